//! The rollups' histogram columns (`int8[]` of `(bucket, count)` pairs,
//! `[b0, n0, b1, n1, …]`) decoded straight from PostgreSQL's binary array
//! form into pairs: a day of `hist_24h` rollups is 8.5 million array
//! elements, and sqlx's generic `Vec<i64>` decoding (a value reference and a
//! checked integer decode per element, then a copy into pairs) was most of
//! the client's time opening it.

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgHasArrayType, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Postgres, Type};

/// A histogram column's pairs, in the order stored (by bucket).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairs(pub Vec<(u32, u64)>);

impl Type<Postgres> for Pairs {
    fn type_info() -> PgTypeInfo {
        i64::array_type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Vec<i64> as Type<Postgres>>::compatible(ty)
    }
}

/// A pair from its two stored elements (negative values count as 0).
fn pair(bucket: i64, count: i64) -> (u32, u64) {
    (bucket.clamp(0, u32::MAX as i64) as u32, count.max(0) as u64)
}

fn take<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], BoxDynError> {
    let (head, rest) = buf
        .split_first_chunk::<N>()
        .ok_or("histogram array cut short")?;
    *buf = rest;
    Ok(*head)
}

impl<'r> Decode<'r, Postgres> for Pairs {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() == PgValueFormat::Text {
            let flat: Vec<i64> = Decode::decode(value)?;
            if !flat.len().is_multiple_of(2) {
                return Err("histogram array of an odd length".into());
            }
            return Ok(Pairs(
                flat.chunks_exact(2).map(|p| pair(p[0], p[1])).collect(),
            ));
        }
        // array_send: ndim, flags, element oid, then per dimension its
        // length and lower bound, then per element its length and bytes.
        let mut buf = value.as_bytes()?;
        let ndim = i32::from_be_bytes(take(&mut buf)?);
        if ndim == 0 {
            return Ok(Pairs::default());
        }
        if ndim != 1 {
            return Err(format!("histogram array of {ndim} dimensions").into());
        }
        let _flags = take::<4>(&mut buf)?;
        let _oid = take::<4>(&mut buf)?;
        let len = i32::from_be_bytes(take(&mut buf)?).max(0) as usize;
        let _lower = take::<4>(&mut buf)?;
        // 12 bytes per element: a corrupt length cannot reserve more.
        if !len.is_multiple_of(2) {
            return Err(format!("histogram array of {len} elements, not pairs").into());
        }
        let mut out = Vec::with_capacity((len / 2).min(buf.len() / 24));
        let mut next = || -> Result<i64, BoxDynError> {
            match i32::from_be_bytes(take(&mut buf)?) {
                8 => Ok(i64::from_be_bytes(take(&mut buf)?)),
                -1 => Err("NULL in a histogram array".into()),
                n => Err(format!("histogram element of {n} bytes").into()),
            }
        };
        for _ in 0..len / 2 {
            let b = next()?;
            out.push(pair(b, next()?));
        }
        Ok(Pairs(out))
    }
}
