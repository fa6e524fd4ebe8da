//! `tcf`: an IAB TCF v2 TC string (`euconsent-v2`): base64url segments joined by
//! `.`, the core segment first.
//!
//! Only the core segment's purpose consents are read: Version (6 bits, must be 2),
//! Created (36), LastUpdated (36), CmpId (12), CmpVersion (12), ConsentScreen (6),
//! ConsentLanguage (12), VendorListVersion (12), TcfPolicyVersion (6),
//! IsServiceSpecific (1), UseNonStandardTexts (1), SpecialFeatureOptIns (12), then
//! PurposesConsent (24, purpose 1 first). A category in `vocab.purposes` is granted
//! when purpose 1 (storing and accessing information on the device) and every
//! purpose it needs are consented; a category without purposes grants nothing.
//!
//! The rest of the core segment is walked, not read: PurposesLITransparency (24),
//! PurposeOneTreatment (1), PublisherCC (12), the vendor consent and vendor
//! legitimate-interest sections (each MaxVendorId (16), IsRangeEncoding (1), then a
//! bit per vendor or NumEntries (12) ranges) and the publisher restrictions
//! (NumPubRestrictions (12), each PurposeId (6), RestrictionType (2) and a range
//! list), so that a string cut short anywhere in them is refused as a whole.
//!
//! Bad base64 in any segment, an empty segment, a core segment too short for its
//! fields, a version other than 2, or a later segment that claims to be a second core
//! segment fails the whole value.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::{Recorded, Unreadable, Vocabulary, unquoted, utf8};
use crate::cookies::category::CategorySet;

/// TCF 2.2 purposes each category needs besides purpose 1: 2–4 and 7 are advertising
/// (by third parties in practice), 5–6 content personalisation, 8–9 measurement.
pub(super) const DEFAULT_PURPOSES: &[(&str, &[u8])] = &[
    ("necessary", &[]),
    ("statistics", &[8, 9]),
    ("first_party", &[5, 6]),
    ("third_party", &[2, 3, 4, 7]),
];

/// base64url, with or without padding (the TC string specification says without).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Bits before PurposesConsent, after Version.
const HEADER_BITS: usize = 36 + 36 + 12 + 12 + 6 + 12 + 12 + 6 + 1 + 1 + 12;

pub(super) fn read(value: &[u8], vocab: &Vocabulary) -> Result<Recorded, Unreadable> {
    let consented = consented_purposes(value)?;
    let mut granted = CategorySet::EMPTY;
    if consented & 1 != 0 {
        for &(category, needs) in &vocab.purposes {
            if consented & needs == needs {
                granted.insert(category);
            }
        }
    }
    Ok(Recorded {
        granted,
        revision: None,
    })
}

/// The consented purposes, bit n-1 for purpose n.
fn consented_purposes(value: &[u8]) -> Result<u32, Unreadable> {
    let text = unquoted(utf8(value)?);
    let mut segments = text.split('.');
    let core = decode(segments.next().unwrap_or_default())?;
    for segment in segments {
        let bytes = decode(segment)?;
        // Every segment but the core starts with a 3-bit type; 0 is the core's.
        if bytes.first().is_none_or(|b| b >> 5 == 0) {
            return Err(Unreadable("a second TCF core segment"));
        }
    }
    let mut bits = Bits {
        bytes: &core,
        at: 0,
    };
    if bits.take(6)? != 2 {
        return Err(Unreadable("not a TCF v2 string"));
    }
    bits.skip(HEADER_BITS)?;
    let field = bits.take(24)?;
    // The rest must be all there: a string cut short is not a record of consent.
    bits.skip(24 + 1 + 12)?;
    bits.skip_vendor_section()?; // consent
    bits.skip_vendor_section()?; // legitimate interest
    for _ in 0..bits.take(12)? {
        bits.skip(6 + 2)?; // PurposeId, RestrictionType
        bits.skip_ranges()?;
    }
    // Purpose 1 is the field's most significant bit.
    Ok((1..=24).fold(0u32, |mask, n| {
        if field >> (24 - n) & 1 != 0 {
            mask | 1 << (n - 1)
        } else {
            mask
        }
    }))
}

fn decode(segment: &str) -> Result<Vec<u8>, Unreadable> {
    if segment.is_empty() {
        return Err(Unreadable("an empty TCF segment"));
    }
    BASE64URL
        .decode(segment)
        .map_err(|_| Unreadable("a TCF segment is not base64url"))
}

/// Reads big-endian bit fields.
struct Bits<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Bits<'_> {
    fn skip(&mut self, n: usize) -> Result<(), Unreadable> {
        if self.bytes.len() * 8 - self.at < n {
            return Err(Unreadable("TCF core segment too short"));
        }
        self.at += n;
        Ok(())
    }

    /// The next `n` (at most 32) bits.
    fn take(&mut self, n: usize) -> Result<u32, Unreadable> {
        let start = self.at;
        self.skip(n)?;
        Ok((start..start + n).fold(0u32, |v, i| {
            v << 1 | u32::from(self.bytes[i / 8] >> (7 - i % 8) & 1)
        }))
    }

    /// MaxVendorId (16), IsRangeEncoding (1), then one bit per vendor or a range list.
    fn skip_vendor_section(&mut self) -> Result<(), Unreadable> {
        let max_vendor_id = self.take(16)?;
        if self.take(1)? == 1 {
            self.skip_ranges()
        } else {
            self.skip(max_vendor_id as usize)
        }
    }

    /// NumEntries (12), each IsARange (1), StartOrOnlyVendorId (16) and, for a range,
    /// EndVendorId (16).
    fn skip_ranges(&mut self) -> Result<(), Unreadable> {
        for _ in 0..self.take(12)? {
            let is_range = self.take(1)? == 1;
            self.skip(if is_range { 32 } else { 16 })?;
        }
        Ok(())
    }
}

/// TC strings for tests, built bit by bit.
#[cfg(test)]
pub(super) mod test_strings {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// Writes big-endian bit fields, the way a CMP encodes a TC string.
    #[derive(Default)]
    pub struct BitWriter {
        bits: Vec<bool>,
    }

    impl BitWriter {
        pub fn put(&mut self, value: u64, width: usize) -> &mut Self {
            for i in (0..width).rev() {
                self.bits.push(i < 64 && value >> i & 1 != 0);
            }
            self
        }

        pub fn bit_count(&self) -> usize {
            self.bits.len()
        }

        pub fn base64(&self) -> String {
            let bytes: Vec<u8> = self
                .bits
                .chunks(8)
                .map(|byte| {
                    byte.iter()
                        .enumerate()
                        .fold(0u8, |b, (i, &bit)| b | u8::from(bit) << (7 - i))
                })
                .collect();
            URL_SAFE_NO_PAD.encode(bytes)
        }
    }

    /// A full core segment (vendor sections included) with these purposes consented
    /// (bit n-1 for purpose n) and `version`.
    pub fn core_segment(purposes: u32, version: u64) -> String {
        let field = (1..=24).fold(0u64, |f, n| f << 1 | u64::from(purposes >> (n - 1) & 1));
        let mut w = BitWriter::default();
        w.put(version, 6)
            .put(16_970_000_000, 36) // Created, deciseconds: 2023-10-10
            .put(16_970_000_000, 36) // LastUpdated
            .put(300, 12) // CmpId
            .put(2, 12) // CmpVersion
            .put(1, 6) // ConsentScreen
            .put(4 * 64 + 13, 12) // ConsentLanguage "EN"
            .put(215, 12) // VendorListVersion
            .put(4, 6) // TcfPolicyVersion (TCF 2.2)
            .put(0, 1) // IsServiceSpecific
            .put(0, 1) // UseNonStandardTexts
            .put(0, 12) // SpecialFeatureOptIns
            .put(field, 24) // PurposesConsent
            .put(field, 24) // PurposesLITransparency
            .put(0, 1) // PurposeOneTreatment
            .put(4 * 64 + 4, 12) // PublisherCC "EE"
            .put(8, 16) // MaxVendorId (consent)
            .put(0, 1) // IsRangeEncoding: bit field
            .put(0b1010_0001, 8) // vendors 1, 3, 8
            .put(2, 16) // MaxVendorId (legitimate interest)
            .put(0, 1)
            .put(0b01, 2)
            .put(0, 12); // NumPubRestrictions
        w.base64()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::test_support::{set, vocab, vocab_for};
    use super::test_strings::{BitWriter, core_segment};
    use super::*;
    use crate::cookies::category::CategoryId;
    use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

    fn purposes(list: &[u8]) -> u32 {
        list.iter().fold(0, |bits, n| bits | 1 << (n - 1))
    }

    fn granted(value: &str) -> Result<CategorySet, Unreadable> {
        read(value.as_bytes(), &vocab_for(Format::Tcf)).map(|r| r.granted)
    }

    /// Real TC strings with their purpose consents as decoded by other libraries.
    #[test]
    fn reads_real_tc_strings() {
        let bitfield =
            "CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAAAAAEAIAEgAA";
        assert_eq!(
            consented_purposes(bitfield.as_bytes()),
            Ok(purposes(&[1, 3, 9, 10]))
        );
        assert_eq!(granted(bitfield), Ok(set(&[0])));
        let with_publisher_tc = format!("{bitfield}.argAC0gAAAAAAAAAAAA");
        assert_eq!(granted(&with_publisher_tc), Ok(set(&[0])));

        let mut v = vocab();
        v.purposes = vec![
            (CategoryId(1), purposes(&[3, 9, 10])),
            (CategoryId(2), purposes(&[2])),
        ];
        assert_eq!(read(bitfield.as_bytes(), &v).unwrap().granted, set(&[1]));

        let nothing = "COyfVVoOyfVVoADACHENAwCAAAAAAAAAAAAAE5QBgALgAqgD8AQACSwEygJyAnSAMABgAFkAgQCDASeAmYBOgAA";
        assert_eq!(consented_purposes(nothing.as_bytes()), Ok(0));
        assert_eq!(granted(nothing), Ok(set(&[])));
    }

    #[test]
    fn reads_every_purpose_at_its_place() {
        for n in 1..=24u8 {
            let value = core_segment(purposes(&[n]), 2);
            assert_eq!(
                consented_purposes(value.as_bytes()),
                Ok(purposes(&[n])),
                "purpose {n}"
            );
        }
        let all = core_segment(0xff_ffff, 2);
        assert_eq!(consented_purposes(all.as_bytes()), Ok(0xff_ffff));
    }

    #[test]
    fn round_trips_every_combination_of_the_defined_purposes() {
        let v = vocab_for(Format::Tcf);
        let needs = |c: &[u8]| purposes(c) | 1;
        for mask in 0u32..1 << 11 {
            let mut expected = CategorySet::EMPTY;
            for (id, list) in [(0, &[][..]), (1, &[8, 9]), (2, &[5, 6]), (3, &[2, 3, 4, 7])] {
                if mask & needs(list) == needs(list) {
                    expected.insert(CategoryId(id));
                }
            }
            let value = core_segment(mask, 2);
            assert_eq!(
                read(value.as_bytes(), &v).unwrap().granted,
                expected,
                "{mask:#b}"
            );
        }
    }

    #[test]
    fn round_trips_every_category_combination_it_can_express() {
        // Every category needs purpose 1, which alone grants `necessary`: the
        // expressible sets are the empty one and those holding `necessary`.
        let needs: [&[u8]; 4] = [&[1], &[1, 8, 9], &[1, 5, 6], &[1, 2, 3, 4, 7]];
        for subset in super::super::test_support::subsets() {
            if !subset.is_empty() && !subset.contains(CategoryId(0)) {
                continue;
            }
            let mask = subset
                .ids()
                .fold(0, |m, id| m | purposes(needs[id.index()]));
            assert_eq!(granted(&core_segment(mask, 2)), Ok(subset), "{subset:?}");
        }
    }

    #[test]
    fn without_purpose_one_nothing_is_granted() {
        let value = core_segment(0xff_fffe, 2);
        assert_eq!(granted(&value), Ok(set(&[])));
    }

    #[test]
    fn a_category_without_purposes_grants_nothing() {
        let mut v = vocab_for(Format::Tcf);
        v.purposes.retain(|(c, _)| *c != CategoryId(0));
        let value = core_segment(0xff_ffff, 2);
        assert_eq!(read(value.as_bytes(), &v).unwrap().granted, set(&[1, 2, 3]));
    }

    #[test]
    fn tolerates_padding_and_quotes() {
        let core = core_segment(purposes(&[1, 8, 9]), 2);
        let bytes = URL_SAFE_NO_PAD.decode(&core).unwrap();
        let padded = URL_SAFE.encode(bytes);
        assert!(padded.ends_with('='));
        assert_eq!(granted(&padded), Ok(set(&[0, 1])));
        assert_eq!(granted(&format!("\"{core}\"")), Ok(set(&[0, 1])));
    }

    /// Every field through the publisher restrictions must be there; a black-box audit
    /// found a real string cut after its purposes still granted all it had said.
    #[test]
    fn a_string_cut_short_anywhere_fails_closed() {
        let real = "CPUEGLhPUEGLhAKAnAENCBCsAP_AAH_AAA6gIkNf_X__bX9j-_5_f_t0eY1P9_r3v-QzjhfNt-8F3L_W_L0X42E7NF36pq4KuR4Eu3LBIQNlHMHUTUmwaokVrzHsak2cpyNKJ7LEmnMZO2dYGHtPn9lDuYKY7_7___fz3j-v_t_-39T378X_3_d5_2---vCfV799zLv9____39nP___9v-_9_____BEMAkw1LyALsyxwZNo0qhRAjCsJCoBQAUUAwtEVgA4OCnZWAT6ghYAITUBGBECDEFGDAIABBIAkIiAkALBAIgCIBAACAFCAhAARMAgsALAwCAAUA0LEAKAAQJCDI4KjlMCAqRaKCWysQSgr2NMIAyzwIoFEZFQAI1miBYGQkLBzHAEgJeLJA8xQvkAA.cAAAADAAAAAA";
        assert_eq!(granted(real), Ok(set(&[0, 1, 2, 3])));
        let core = real.split('.').next().unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(core).unwrap();
        // Its last field ends in its last byte: every shorter cut lacks something.
        for len in 1..bytes.len() {
            let cut = URL_SAFE_NO_PAD.encode(&bytes[..len]);
            assert!(
                granted(&cut).is_err(),
                "cut to {len} bytes of {}",
                bytes.len()
            );
        }
        // Cut right after the purposes: 22 bytes hold the first 176 bits.
        let mut w = BitWriter::default();
        w.put(2, 6).put(0, HEADER_BITS).put(0xc0_0000, 24);
        assert_eq!(w.bit_count(), 176);
        assert!(granted(&w.base64()).is_err());
    }

    #[test]
    fn reads_range_encoded_vendors_and_publisher_restrictions() {
        let mut w = BitWriter::default();
        w.put(2, 6)
            .put(0, HEADER_BITS)
            .put(0xc0_0000, 24) // purposes 1 and 2
            .put(0, 24 + 1 + 12)
            .put(700, 16) // MaxVendorId
            .put(1, 1) // IsRangeEncoding
            .put(2, 12) // NumEntries
            .put(1, 1)
            .put(10, 16)
            .put(20, 16) // 10-20
            .put(0, 1)
            .put(700, 16) // 700
            .put(0, 16) // legitimate interest: MaxVendorId 0
            .put(0, 1)
            .put(1, 12) // NumPubRestrictions
            .put(2, 6)
            .put(1, 2)
            .put(1, 12)
            .put(0, 1)
            .put(32, 16);
        assert_eq!(granted(&w.base64()), Ok(set(&[0])));
        // The same without its last vendor id.
        let mut cut = BitWriter::default();
        cut.put(2, 6)
            .put(0, HEADER_BITS)
            .put(0xc0_0000, 24)
            .put(0, 24 + 1 + 12)
            .put(700, 16)
            .put(1, 1)
            .put(2, 12)
            .put(1, 1)
            .put(10, 16)
            .put(20, 16)
            .put(0, 1);
        assert!(granted(&cut.base64()).is_err());
    }

    #[test]
    fn fails_closed_on_what_it_cannot_read() {
        let good = core_segment(0xff_ffff, 2);
        let mut short = BitWriter::default();
        short.put(2, 6).put(0, HEADER_BITS).put(0xff, 8);
        for bad in [
            String::new(),
            "C".into(),
            "CO".into(),
            short.base64(),
            core_segment(0xff_ffff, 1),
            core_segment(0xff_ffff, 3),
            good[..20].to_owned(),
            good.replace('A', "+"),
            format!("{good}!"),
            format!("{good}."),
            format!(".{good}"),
            format!("{good}..argAC0gAAAAAAAAAAAA"),
            format!("{good}.argAC0g*AAAAAAAAAAA"),
            format!("{good}.{good}"),
            format!("{good}==="),
            format!(" {good}"),
            "%FF".into(),
        ] {
            assert!(granted(&bad).is_err(), "{bad:?} should be unreadable");
        }
        assert!(read(&[0xff, 0xfe], &vocab_for(Format::Tcf)).is_err());
    }
}
