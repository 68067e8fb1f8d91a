//! The picture size an HEVC sequence parameter set declares (ITU-T H.265 7.3.2.2), read
//! before libde265 sees it: libde265 allocates the picture the SPS declares, whatever the HEIF
//! item's `ispe` says, so a tile declared 512x512 could otherwise make it allocate gigabytes.

/// The SPS's NAL unit type.
const SPS: u8 = 33;

/// The luma size (`pic_width_in_luma_samples`, `pic_height_in_luma_samples`) of a NAL unit when
/// it is a sequence parameter set; `None` for other units and for ones that end too early.
pub(super) fn sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    if nal.len() < 3 || (nal[0] >> 1) & 0x3f != SPS {
        return None;
    }
    let mut bits = Bits::new(&nal[2..]);
    bits.skip(4); // sps_video_parameter_set_id
    let sub_layers = bits.read(3)? as usize; // sps_max_sub_layers_minus1
    bits.skip(1); // sps_temporal_id_nesting_flag
    // profile_tier_level(1, sub_layers): the general profile (88 bits) and level (8).
    bits.skip(96);
    let mut present = [(false, false); 8];
    for flags in present.iter_mut().take(sub_layers) {
        *flags = (bits.read(1)? == 1, bits.read(1)? == 1);
    }
    if sub_layers > 0 {
        bits.skip(2 * (8 - sub_layers)); // reserved_zero_2bits
    }
    for &(profile, level) in present.iter().take(sub_layers) {
        bits.skip(if profile { 88 } else { 0 } + if level { 8 } else { 0 });
    }
    bits.exp_golomb()?; // sps_seq_parameter_set_id
    if bits.exp_golomb()? == 3 {
        bits.skip(1); // separate_colour_plane_flag
    }
    let width = u32::try_from(bits.exp_golomb()?).ok()?;
    let height = u32::try_from(bits.exp_golomb()?).ok()?;
    Some((width, height))
}

/// The NAL units of an `hvcC` box's parameter set arrays (ISO/IEC 14496-15 8.3.3.1).
pub(super) fn hvcc_units(hvcc: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let Some(&arrays) = hvcc.get(22) else { return units };
    let mut at = 23;
    for _ in 0..arrays {
        let Some(count) = hvcc.get(at + 1..at + 3) else { break };
        at += 3;
        for _ in 0..u16::from_be_bytes([count[0], count[1]]) {
            let Some(len) = hvcc.get(at..at + 2) else { return units };
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let Some(unit) = hvcc.get(at + 2..at + 2 + len) else { return units };
            units.push(unit);
            at += 2 + len;
        }
    }
    units
}

/// The NAL units of an item's coded data, each after a 4-byte length (what libheif hands
/// libde265).
pub(super) fn data_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
        let unit = data.get(at + 4..at.checked_add(4)?.checked_add(len)?)?;
        at += 4 + len;
        Some(unit)
    })
}

/// Bits of a NAL unit's payload, most significant first, with its emulation prevention bytes
/// (0x000003) taken out.
struct Bits<'a> {
    bytes: &'a [u8],
    at: usize,
    bit: u32,
    zeros: u32,
    current: u8,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Bits { bytes, at: 0, bit: 8, zeros: 0, current: 0 }
    }

    fn next_bit(&mut self) -> Option<u32> {
        if self.bit == 8 {
            let mut byte = *self.bytes.get(self.at)?;
            self.at += 1;
            if self.zeros >= 2 && byte == 3 {
                byte = *self.bytes.get(self.at)?;
                self.at += 1;
                self.zeros = 0;
            }
            self.zeros = if byte == 0 { self.zeros + 1 } else { 0 };
            self.current = byte;
            self.bit = 0;
        }
        let value = u32::from(self.current >> (7 - self.bit)) & 1;
        self.bit += 1;
        Some(value)
    }

    fn read(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |v, _| Some(v << 1 | self.next_bit()?))
    }

    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            if self.next_bit().is_none() {
                return;
            }
        }
    }

    /// An unsigned Exp-Golomb code (`ue(v)`), at most 32 leading zeros.
    fn exp_golomb(&mut self) -> Option<u64> {
        let mut zeros = 0;
        while self.next_bit()? == 0 {
            zeros += 1;
            if zeros > 32 {
                return None;
            }
        }
        let rest = u64::from(self.read(zeros)?);
        Some((1u64 << zeros) - 1 + rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SPS declaring `width` x `height` (main profile, no sub-layers), with an emulation
    /// prevention byte where its bits make one.
    pub(crate) fn sps(width: u32, height: u32) -> Vec<u8> {
        let mut bits: Vec<u8> = Vec::new();
        let mut put = |value: u64, n: u32| (0..n).rev().for_each(|i| bits.push((value >> i & 1) as u8));
        put(0, 4);
        put(0, 3);
        put(1, 1);
        (0..3).for_each(|_| put(0, 32)); // profile, tier, flags and level: zeros, so that 0x000003 appears
        let ue = |v: u64, put: &mut dyn FnMut(u64, u32)| {
            let len = 64 - (v + 1).leading_zeros();
            put(0, len - 1);
            put(v + 1, len);
        };
        ue(0, &mut put);
        ue(1, &mut put);
        ue(u64::from(width), &mut put);
        ue(u64::from(height), &mut put);
        put(1, 1);
        while !bits.len().is_multiple_of(8) {
            bits.push(0);
        }
        let raw: Vec<u8> = bits.chunks(8).map(|b| b.iter().fold(0, |a, &x| a << 1 | x)).collect();
        let mut out = vec![SPS << 1, 1];
        let mut zeros = 0;
        for byte in raw {
            if zeros >= 2 && byte <= 3 {
                out.push(3);
                zeros = 0;
            }
            zeros = if byte == 0 { zeros + 1 } else { 0 };
            out.push(byte);
        }
        out
    }

    #[test]
    fn reads_the_picture_size_of_an_sps() {
        assert_eq!(sps_size(&sps(512, 512)), Some((512, 512)));
        assert_eq!(sps_size(&sps(65_535, 16)), Some((65_535, 16)));
        assert_eq!(sps_size(&[34 << 1, 1, 0xff]), None, "a PPS");
        assert_eq!(sps_size(&sps(4032, 3024)[..8]), None, "cut short");
        let data = [&8u32.to_be_bytes()[..], &[0; 8], &(sps(64, 48).len() as u32).to_be_bytes(), &sps(64, 48)].concat();
        assert_eq!(data_units(&data).filter_map(sps_size).collect::<Vec<_>>(), [(64, 48)]);
    }
}
