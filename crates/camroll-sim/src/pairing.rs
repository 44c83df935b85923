//! The simulated phone's identity and the host pairing record it hands out.
//!
//! A real pairing produces three RSA key pairs (root CA, host, device) and three
//! certificates signed by the root; the host keeps the record and usbmuxd serves
//! it through `ReadPairRecord`. We create all of it once, on first start, and
//! keep it in `<media>/.sim/identity.plist` so the UDID and keys stay stable
//! across restarts (clients cache records by UDID).

use std::path::{Path, PathBuf};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};
use rsa::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};

use crate::SimError;

/// Everything that makes the simulated phone "the same phone" across restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Identity {
    /// The phone's UDID: 8 hex digits, `-`, 16 hex digits.
    pub udid: String,
    /// `SerialNumber`.
    pub serial_number: String,
    /// `UniqueChipID` (the ECID), the UDID's second part as a number.
    pub unique_chip_id: u64,
    /// `WiFiAddress`, a MAC address (`f4:…`).
    pub wifi_address: String,
    /// `BluetoothAddress`, a MAC address.
    pub bluetooth_address: String,
    /// The host's `SystemBUID` in the pairing record (a UUID).
    pub system_buid: String,
    /// The paired host's `HostID` (a UUID).
    pub host_id: String,
    /// The `EscrowBag`: 32 random bytes.
    pub escrow_bag: plist::Data,
    /// The device key, PKCS#8 PEM.
    pub device_private_key: String,
    /// The device public key, PKCS#1 PEM (`DevicePublicKey`).
    pub device_public_key: String,
    /// The device certificate, PEM, signed by the root.
    pub device_certificate: String,
    /// The host key, PKCS#8 PEM.
    pub host_private_key: String,
    /// The host certificate, PEM, signed by the root.
    pub host_certificate: String,
    /// The root CA key, PKCS#8 PEM.
    pub root_private_key: String,
    /// The root CA certificate, PEM.
    pub root_certificate: String,
}

impl Identity {
    /// The pairing record as usbmuxd stores it (`/var/lib/lockdown/<UDID>.plist`):
    /// PEM blobs as `<data>`, ids as strings.
    pub fn pair_record(&self) -> plist::Dictionary {
        let mut d = plist::Dictionary::new();
        let data = |s: &str| plist::Value::Data(s.as_bytes().to_vec());
        d.insert("DeviceCertificate".into(), data(&self.device_certificate));
        d.insert(
            "EscrowBag".into(),
            plist::Value::Data(self.escrow_bag.clone().into()),
        );
        d.insert("HostCertificate".into(), data(&self.host_certificate));
        d.insert("HostID".into(), self.host_id.clone().into());
        d.insert("HostPrivateKey".into(), data(&self.host_private_key));
        d.insert("RootCertificate".into(), data(&self.root_certificate));
        d.insert("RootPrivateKey".into(), data(&self.root_private_key));
        d.insert("SystemBUID".into(), self.system_buid.clone().into());
        d.insert("UDID".into(), self.udid.clone().into());
        d.insert("WiFiMACAddress".into(), self.wifi_address.clone().into());
        d
    }

    /// The pairing record serialised as an XML plist (what `ReadPairRecord` carries).
    pub fn pair_record_xml(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing a dictionary of strings and data into a Vec cannot fail.
        let _ = plist::to_writer_xml(&mut out, &plist::Value::Dictionary(self.pair_record()));
        out
    }
}

/// Loads `<media>/.sim/identity.plist`, creating it (with fresh keys) when absent.
/// `udid` overrides the stored UDID for this run without touching the keys.
pub fn load_or_create(media: &Path, udid: Option<&str>) -> Result<Identity, SimError> {
    let dir = media.join(".sim");
    let path = dir.join("identity.plist");
    let mut id = if path.exists() {
        plist::from_file::<_, Identity>(&path).map_err(|e| SimError::Identity {
            path: path.clone(),
            message: format!("cannot read it ({e}); delete it to create a new simulated phone"),
        })?
    } else {
        let id = create()?;
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let tmp = dir.join("identity.plist.tmp");
        plist::to_file_xml(&tmp, &id).map_err(|e| SimError::Identity {
            path: tmp.clone(),
            message: format!("cannot write it: {e}"),
        })?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        id
    };
    if let Some(u) = udid {
        id.udid = u.to_string();
    }
    // Also leave the record where a user can copy it into /var/lib/lockdown.
    let rec = dir.join(format!("{}.plist", id.udid));
    std::fs::write(&rec, id.pair_record_xml()).map_err(|e| io(&rec, e))?;
    Ok(id)
}

fn io(path: &Path, e: std::io::Error) -> SimError {
    SimError::Io {
        path: PathBuf::from(path),
        source: e,
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> SimError {
    SimError::Identity {
        path: PathBuf::from(".sim/identity.plist"),
        message: format!("cannot create the {what}: {e}"),
    }
}

/// Generates a brand-new phone: ids, three RSA-2048 keys, and SHA-256 certificates
/// laid out like libimobiledevice's and pymobiledevice3's pairing code makes them
/// (root CA:TRUE; host and device CA:FALSE with digitalSignature+keyEncipherment).
pub fn create() -> Result<Identity, SimError> {
    let mut rng = rand::rngs::OsRng;
    let mut hex = |n: usize| {
        let mut b = vec![0u8; n.div_ceil(2)];
        rng.fill_bytes(&mut b);
        let s: String = b.iter().map(|x| format!("{x:02X}")).collect();
        s[..n].to_string()
    };
    // Modern UDID: 8 hex digits (chip id), hyphen, 16 hex digits (ECID).
    let ecid_hex = format!("000{}", hex(13));
    let udid = format!("00008110-{ecid_hex}");
    let unique_chip_id = u64::from_str_radix(&ecid_hex, 16).unwrap_or(0x1234_5678);
    let uuid = |h: &mut dyn FnMut(usize) -> String| {
        format!("{}-{}-4{}-8{}-{}", h(8), h(4), h(3), h(3), h(12))
    };
    let host_id = uuid(&mut hex);
    let system_buid = uuid(&mut hex);
    let mac = |h: &mut dyn FnMut(usize) -> String| {
        let s = h(10).to_lowercase();
        format!(
            "f4:{}:{}:{}:{}:{}",
            &s[0..2],
            &s[2..4],
            &s[4..6],
            &s[6..8],
            &s[8..10]
        )
    };
    let wifi_address = mac(&mut hex);
    let bluetooth_address = mac(&mut hex);
    let serial_number = format!("F{}", hex(11));
    let mut escrow = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut escrow);

    // Three 2048-bit keys; generating them in parallel halves the first start.
    let keys: Vec<Result<rsa::RsaPrivateKey, rsa::Error>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or(Err(rsa::Error::Internal)))
            .collect()
    });
    let mut pems = Vec::new();
    let mut pubs = Vec::new();
    for k in keys {
        let k = k.map_err(|e| err("RSA key", e))?;
        let pem = k
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| err("PKCS#8 key", e))?;
        pubs.push(
            k.to_public_key()
                .to_pkcs1_pem(LineEnding::LF)
                .map_err(|e| err("public key", e))?,
        );
        pems.push(pem.to_string());
    }
    let (root_key, host_key, dev_key) = (&pems[0], &pems[1], &pems[2]);
    let kp = |pem: &str| {
        KeyPair::from_pkcs8_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256)
            .map_err(|e| err("key pair", e))
    };
    let (root_kp, host_kp, dev_kp) = (kp(root_key)?, kp(host_key)?, kp(dev_key)?);

    let base = |cn: &str, serial: u64| {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.serial_number = Some(SerialNumber::from(serial));
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2045, 1, 1);
        p
    };
    let mut root_params = base("camroll simulated pairing root", 0);
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root_params
        .self_signed(&root_kp)
        .map_err(|e| err("root certificate", e))?;
    let issuer = Issuer::from_params(&root_params, &root_kp);
    let leaf = |cn: &str, serial: u64, key: &KeyPair| {
        let mut p = base(cn, serial);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.signed_by(key, &issuer)
            .map_err(|e| err("leaf certificate", e))
    };
    let host_cert = leaf("camroll simulated host", 1, &host_kp)?;
    let dev_cert = leaf("camroll simulated iPhone", 2, &dev_kp)?;

    Ok(Identity {
        udid,
        serial_number,
        unique_chip_id,
        wifi_address,
        bluetooth_address,
        system_buid,
        host_id,
        escrow_bag: escrow.into(),
        device_private_key: dev_key.clone(),
        device_public_key: pubs[2].clone(),
        device_certificate: dev_cert.pem(),
        host_private_key: host_key.clone(),
        host_certificate: host_cert.pem(),
        root_private_key: root_key.clone(),
        root_certificate: root_cert.pem(),
    })
}
