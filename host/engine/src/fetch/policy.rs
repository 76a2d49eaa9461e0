//! The downloader's egress policy: which URLs a candidate or a redirect hop may reach. It owns
//! the rules — allowed schemes (`queue.allow-schemes`), host patterns (`queue.allow-hosts`),
//! public addresses only unless a range is granted (`queue.allow-addresses`, judged on every
//! resolved address, RFC 6890), no https→http downgrade unless allowed
//! (`queue.allow-downgrade`) — and the origin comparison (RFC 6454) that decides which
//! headers follow a redirect. It does no I/O: `fetch::conn` resolves names and asks
//! [`EgressPolicy::check_address`] before connecting; `fetch` asks the rest per hop. Every
//! refusal is a sentence naming what refused the URL and the setting that would allow it.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::Url;

/// The schemes Baton can download at all; `queue.allow-schemes` picks among them.
pub const SCHEMES: &[&str] = &["https", "http"];

/// Where a download may go. Built once from `[queue]` (see [`EgressPolicy::new`]); the
/// [`Default`] is the settings' defaults: https and http, any host, public addresses only,
/// no downgrade.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    schemes: Vec<String>,
    host_patterns: Vec<String>,
    hosts: GlobSet,
    granted: Vec<IpNet>,
    allow_downgrade: bool,
}

#[cfg(test)]
impl EgressPolicy {
    /// The configured schemes, host patterns, granted ranges and downgrade flag, as given
    /// (for the settings properties).
    pub(crate) fn parts(&self) -> (Vec<String>, Vec<String>, Vec<String>, bool) {
        (
            self.schemes.clone(),
            self.host_patterns.clone(),
            self.granted.iter().map(ToString::to_string).collect(),
            self.allow_downgrade,
        )
    }
}

impl Default for EgressPolicy {
    fn default() -> EgressPolicy {
        EgressPolicy::new(
            SCHEMES.iter().map(|s| s.to_string()).collect(),
            vec!["*".into()],
            Vec::new(),
            false,
        )
        .unwrap_or_else(|_| unreachable!("the default patterns are valid"))
    }
}

/// A host pattern as `queue.allow-hosts` takes it: a glob (`*`, `?`, `[a-z]`, `{a,b}`) over
/// the whole host name, case-insensitive; `*` also matches dots, so `*.example.org` matches
/// `a.b.example.org` (but not `example.org` itself). An IPv6 host is matched without its
/// brackets (`::1`, `fd00:*`): in a glob, `[…]` is a character class.
pub fn host_glob(pattern: &str) -> Result<globset::Glob, String> {
    GlobBuilder::new(pattern.trim())
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map_err(|e| format!("`{pattern}` is not a host pattern: {}", e.kind()))
}

/// An address range as `queue.allow-addresses` takes it: CIDR (`10.0.0.0/8`, `fd00::/8`) or
/// one address (`127.0.0.1`, taken as `/32`; `::1` as `/128`).
pub fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        // `10.0.0.1/8` is likely a typo for one address or for the network: say which.
        if net.addr() != net.network() {
            return Err(format!(
                "`{text}` has host bits set: write the network `{}` or the one address `{}`",
                net.trunc(),
                net.addr()
            ));
        }
        return Ok(net);
    }
    text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!(
            "`{text}` is not an address range (CIDR like 10.0.0.0/8 or fd00::/8, or one address)"
        )
    })
}

impl EgressPolicy {
    /// A policy from the settings' values: `schemes` among [`SCHEMES`] (`queue.allow-schemes`,
    /// default https and http), `host_patterns` (`queue.allow-hosts`, default `*`, see
    /// [`host_glob`]), `granted` ranges beyond public addresses (`queue.allow-addresses`,
    /// default none) and whether an https→http redirect is followed (`queue.allow-downgrade`,
    /// default false). The error names the first bad value.
    pub fn new(
        schemes: Vec<String>,
        host_patterns: Vec<String>,
        granted: Vec<IpNet>,
        allow_downgrade: bool,
    ) -> Result<EgressPolicy, String> {
        let schemes: Vec<String> = schemes.iter().map(|s| s.to_ascii_lowercase()).collect();
        if let Some(unknown) = schemes.iter().find(|s| !SCHEMES.contains(&s.as_str())) {
            return Err(format!(
                "`{unknown}` is not a scheme Baton downloads ({})",
                SCHEMES.join(", ")
            ));
        }
        let mut builder = GlobSetBuilder::new();
        for pattern in &host_patterns {
            builder.add(host_glob(pattern)?);
        }
        let hosts = builder.build().map_err(|e| e.to_string())?;
        Ok(EgressPolicy {
            schemes,
            host_patterns,
            hosts,
            granted,
            allow_downgrade,
        })
    }

    /// Whether `url` may be requested by its scheme and host name (before any address is
    /// known). The error is the reason, with the setting that would allow it.
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        let scheme = url.scheme();
        if !SCHEMES.contains(&scheme) {
            return Err(format!(
                "Baton downloads {} only, not `{scheme}`",
                SCHEMES.join(" and ")
            ));
        }
        if !self.schemes.iter().any(|s| s == scheme) {
            return Err(format!(
                "scheme {scheme} is not in queue.allow-schemes = {} (add \"{scheme}\" there to allow it)",
                toml_list(&self.schemes)
            ));
        }
        let host = url.host_str().ok_or("the URL has no host")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if !self.hosts.is_match(host) && !self.hosts.is_match(bare) {
            return Err(format!(
                "host {host} matches none of queue.allow-hosts = {} (add a pattern for it there to allow it)",
                toml_list(&self.host_patterns)
            ));
        }
        Ok(())
    }

    /// Whether a redirect from `from` to `to` may be followed: `to` passes [`check_url`]
    /// and, unless `queue.allow-downgrade`, does not leave https for http.
    ///
    /// [`check_url`]: EgressPolicy::check_url
    pub fn check_hop(&self, from: &Url, to: &Url) -> Result<(), String> {
        if from.scheme() == "https" && to.scheme() == "http" && !self.allow_downgrade {
            return Err(
                "it downgrades https to http (allow it with queue.allow-downgrade = true)".into(),
            );
        }
        self.check_url(to)
    }

    /// Whether a resolved address may be connected to: public addresses may; the special
    /// ranges of RFC 6890 (see [`special`]) only when a range of `queue.allow-addresses`
    /// holds them. An IPv4-mapped or -compatible IPv6 address is judged as its IPv4 address
    /// and is granted by a range holding either form.
    pub fn check_address(&self, addr: IpAddr) -> Result<(), String> {
        let Some(kind) = special(addr) else {
            return Ok(());
        };
        let judged = embedded_ipv4(addr).map(IpAddr::V4).unwrap_or(addr);
        if self
            .granted
            .iter()
            .any(|net| net.contains(&addr) || net.contains(&judged))
        {
            return Ok(());
        }
        let host_route = IpNet::from(judged);
        let seen = if judged == addr {
            String::new()
        } else {
            format!(" (IPv4 {judged})")
        };
        Err(format!(
            "{addr}{seen} is {} (grant it with queue.allow-addresses = [\"{host_route}\"])",
            kind.describe(judged)
        ))
    }
}

/// A list as TOML writes it, for messages: `["https", "http"]`.
fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Whether two URLs have the same origin (RFC 6454 §4): scheme, host and port, the port
/// being the scheme's default when the URL names none. A redirect to another origin does
/// not carry the resolver's headers.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Why an address is not a public one (RFC 6890 and the RFCs it lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `0.0.0.0/8` ("this network", RFC 1122) and `::/128`.
    Unspecified,
    /// `127.0.0.0/8` and `::1/128` (RFC 1122, RFC 4291).
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// `169.254.0.0/16` (RFC 3927) and `fe80::/10` (RFC 4291); 169.254.169.254 is the cloud
    /// metadata service.
    LinkLocal,
    /// `fc00::/7` (RFC 4193); `fd00:ec2::254` is the cloud metadata service.
    UniqueLocal,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// `255.255.255.255/32` (RFC 919).
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` (RFC 5737) and `2001:db8::/32`
    /// (RFC 3849).
    Documentation,
    /// `198.18.0.0/15`, benchmarking (RFC 2544).
    Benchmarking,
    /// Other ranges RFC 6890 marks not global: `192.0.0.0/24` (IETF protocol assignments),
    /// `192.88.99.0/24` (6to4 relay anycast, RFC 7526), `240.0.0.0/4` (future use),
    /// `100::/64` (discard-only, RFC 6666), `2001::/23` (IETF protocol assignments, Teredo),
    /// `fec0::/10` (deprecated site-local, RFC 3879), `64:ff9b:1::/48` (local-use NAT64,
    /// RFC 8215) and the rest of `::/96` and `::ffff:0:0/96` not otherwise judged.
    Reserved,
}

impl Special {
    /// The phrase for messages: "a loopback address".
    fn describe(self, addr: IpAddr) -> &'static str {
        let metadata = addr == IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))
            || addr == IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254));
        match self {
            Special::Unspecified => "an unspecified address",
            Special::Loopback => "a loopback address",
            Special::Private => "a private address (RFC 1918)",
            Special::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Special::LinkLocal if metadata => "the link-local cloud metadata address",
            Special::LinkLocal => "a link-local address",
            Special::UniqueLocal if metadata => "the unique-local cloud metadata address",
            Special::UniqueLocal => "a unique-local address (RFC 4193)",
            Special::Multicast => "a multicast address",
            Special::Broadcast => "the broadcast address",
            Special::Documentation => "a documentation address",
            Special::Benchmarking => "a benchmarking address",
            Special::Reserved => "a reserved address",
        }
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d` (RFC 4291
/// §2.5.5.2), IPv4-compatible `::a.b.c.d` (deprecated, §2.5.5.1; not `::` or `::1`) and the
/// NAT64 well-known prefix `64:ff9b::/96` (RFC 6052). An IPv4 address is itself.
fn embedded_ipv4(addr: IpAddr) -> Option<Ipv4Addr> {
    match addr {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            match s[..6] {
                [0, 0, 0, 0, 0, 0xffff] => Some(tail),
                [0, 0, 0, 0, 0, 0] if s[6] != 0 => Some(tail),
                [0x64, 0xff9b, 0, 0, 0, 0] => Some(tail),
                _ => None,
            }
        }
    }
}

/// Why `addr` is not public, or `None` for a public address (RFC 6890's "global" ranges).
/// IPv6 addresses that stand for an IPv4 address are judged as that address.
pub fn special(addr: IpAddr) -> Option<Special> {
    match addr {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) if v6.is_unspecified() => Some(Special::Unspecified),
        IpAddr::V6(v6) if v6.is_loopback() => Some(Special::Loopback),
        IpAddr::V6(v6) => match embedded_ipv4(addr) {
            Some(v4) => special_v4(v4),
            None => special_v6(v6),
        },
    }
}

fn special_v4(v4: Ipv4Addr) -> Option<Special> {
    let [a, b, c, _] = v4.octets();
    Some(match (a, b, c) {
        (0, _, _) => Special::Unspecified,
        (10, _, _) => Special::Private,
        (100, 64..=127, _) => Special::SharedAddressSpace,
        (127, _, _) => Special::Loopback,
        (169, 254, _) => Special::LinkLocal,
        (172, 16..=31, _) => Special::Private,
        (192, 0, 0) | (192, 88, 99) => Special::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Special::Documentation,
        (192, 168, _) => Special::Private,
        (198, 18..=19, _) => Special::Benchmarking,
        (224..=239, _, _) => Special::Multicast,
        _ if v4.is_broadcast() => Special::Broadcast,
        (240..=255, _, _) => Special::Reserved,
        _ => return None,
    })
}

fn special_v6(v6: Ipv6Addr) -> Option<Special> {
    let s = v6.segments();
    Some(match s {
        [0xff00..=0xffff, ..] => Special::Multicast,
        [0xfe80..=0xfebf, ..] => Special::LinkLocal,
        [0xfec0..=0xfeff, ..] => Special::Reserved,
        [0xfc00..=0xfdff, ..] => Special::UniqueLocal,
        [0x2001, 0xdb8, ..] => Special::Documentation,
        [0x2001, 0..=0x1ff, ..] => Special::Reserved,
        [0x100, 0, 0, 0, ..] => Special::Reserved,
        [0x64, 0xff9b, 1, ..] => Special::Reserved,
        // The rest of ::/96 and ::ffff:0:0/96 is judged as IPv4 before this.
        [0, 0, 0, 0, 0, 0 | 0xffff, ..] => Special::Reserved,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn every_special_range_of_rfc_6890_is_recognised_and_public_addresses_are_not() {
        for (addr, kind) in [
            ("0.0.0.0", Special::Unspecified),
            ("0.1.2.3", Special::Unspecified),
            ("10.0.0.1", Special::Private),
            ("10.255.255.255", Special::Private),
            ("100.64.0.1", Special::SharedAddressSpace),
            ("100.127.255.254", Special::SharedAddressSpace),
            ("127.0.0.1", Special::Loopback),
            ("127.255.0.9", Special::Loopback),
            ("169.254.0.1", Special::LinkLocal),
            ("169.254.169.254", Special::LinkLocal),
            ("172.16.0.1", Special::Private),
            ("172.31.255.255", Special::Private),
            ("192.0.0.8", Special::Reserved),
            ("192.0.2.10", Special::Documentation),
            ("192.88.99.1", Special::Reserved),
            ("192.168.1.1", Special::Private),
            ("198.18.0.1", Special::Benchmarking),
            ("198.19.255.255", Special::Benchmarking),
            ("198.51.100.7", Special::Documentation),
            ("203.0.113.9", Special::Documentation),
            ("224.0.0.1", Special::Multicast),
            ("239.255.255.250", Special::Multicast),
            ("240.0.0.1", Special::Reserved),
            ("255.255.255.254", Special::Reserved),
            ("255.255.255.255", Special::Broadcast),
            ("::", Special::Unspecified),
            ("::1", Special::Loopback),
            ("fc00::1", Special::UniqueLocal),
            ("fd12:3456::1", Special::UniqueLocal),
            ("fd00:ec2::254", Special::UniqueLocal),
            ("fe80::1", Special::LinkLocal),
            ("febf::1", Special::LinkLocal),
            ("fec0::1", Special::Reserved),
            ("ff02::1", Special::Multicast),
            ("2001:db8::1", Special::Documentation),
            ("2001::1", Special::Reserved),
            ("100::1", Special::Reserved),
            ("64:ff9b:1::1", Special::Reserved),
            ("::2", Special::Reserved),
        ] {
            assert_eq!(special(ip(addr)), Some(kind), "{addr}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.255.255",
            "169.255.0.1",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "2001:4860:4860::8888",
            "fbff::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(special(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_as_that_address() {
        for (addr, kind) in [
            ("::ffff:127.0.0.1", Special::Loopback),
            ("::ffff:7f00:2", Special::Loopback),
            ("::ffff:10.1.2.3", Special::Private),
            ("::ffff:169.254.169.254", Special::LinkLocal),
            ("::ffff:192.168.0.1", Special::Private),
            ("::ffff:100.64.0.1", Special::SharedAddressSpace),
            ("::ffff:0.0.0.0", Special::Unspecified),
            ("::127.0.0.1", Special::Loopback),
            ("::10.0.0.1", Special::Private),
            ("64:ff9b::127.0.0.1", Special::Loopback),
            ("64:ff9b::a9fe:a9fe", Special::LinkLocal),
        ] {
            assert_eq!(special(ip(addr)), Some(kind), "{addr}");
        }
        let policy = EgressPolicy::default();
        let refused = policy.check_address(ip("::ffff:127.0.0.1")).unwrap_err();
        assert_eq!(
            refused,
            "::ffff:127.0.0.1 (IPv4 127.0.0.1) is a loopback address (grant it with queue.allow-addresses = [\"127.0.0.1/32\"])"
        );
        // A grant of the IPv4 range holds its mapped form too, and a grant of the mapped
        // form holds itself.
        let granted = |ranges: &[&str]| {
            EgressPolicy::new(
                vec!["http".into()],
                vec!["*".into()],
                ranges.iter().map(|r| parse_range(r).unwrap()).collect(),
                false,
            )
            .unwrap()
        };
        assert!(
            granted(&["127.0.0.0/8"])
                .check_address(ip("::ffff:127.0.0.9"))
                .is_ok()
        );
        assert!(
            granted(&["::ffff:127.0.0.1/128"])
                .check_address(ip("::ffff:127.0.0.1"))
                .is_ok()
        );
        assert!(
            granted(&["127.0.0.1"])
                .check_address(ip("::ffff:127.0.0.2"))
                .is_err()
        );
    }

    #[test]
    fn refusals_name_the_address_its_range_and_the_setting_that_grants_it() {
        let policy = EgressPolicy::default();
        assert_eq!(
            policy.check_address(ip("127.0.0.1")).unwrap_err(),
            "127.0.0.1 is a loopback address (grant it with queue.allow-addresses = [\"127.0.0.1/32\"])"
        );
        assert_eq!(
            policy.check_address(ip("169.254.169.254")).unwrap_err(),
            "169.254.169.254 is the link-local cloud metadata address (grant it with queue.allow-addresses = [\"169.254.169.254/32\"])"
        );
        assert_eq!(
            policy.check_address(ip("fd00:ec2::254")).unwrap_err(),
            "fd00:ec2::254 is the unique-local cloud metadata address (grant it with queue.allow-addresses = [\"fd00:ec2::254/128\"])"
        );
        assert!(
            policy
                .check_address(ip("::1"))
                .unwrap_err()
                .contains("[\"::1/128\"]")
        );
        assert!(policy.check_address(ip("93.184.215.14")).is_ok());
        let granted = EgressPolicy::new(
            vec!["http".into()],
            vec!["*".into()],
            vec![
                parse_range("10.0.0.0/8").unwrap(),
                parse_range("::1").unwrap(),
            ],
            false,
        )
        .unwrap();
        assert!(granted.check_address(ip("10.20.30.40")).is_ok());
        assert!(granted.check_address(ip("::1")).is_ok());
        assert!(granted.check_address(ip("11.0.0.1")).is_ok());
        assert!(granted.check_address(ip("192.168.0.1")).is_err());
    }

    #[test]
    fn schemes_and_host_patterns_refuse_by_name() {
        let url = |text: &str| Url::parse(text).unwrap();
        let policy = EgressPolicy::new(
            vec!["https".into()],
            vec!["*.example.org".into(), "files.test".into(), "::1".into()],
            Vec::new(),
            false,
        )
        .unwrap();
        assert!(policy.check_url(&url("https://a.example.org/x")).is_ok());
        assert!(policy.check_url(&url("https://A.B.Example.ORG/x")).is_ok());
        assert!(policy.check_url(&url("https://files.test:8443/x")).is_ok());
        assert!(policy.check_url(&url("https://[::1]/x")).is_ok());
        assert_eq!(
            policy.check_url(&url("https://example.org/x")).unwrap_err(),
            "host example.org matches none of queue.allow-hosts = [\"*.example.org\", \"files.test\", \"::1\"] (add a pattern for it there to allow it)"
        );
        assert_eq!(
            policy
                .check_url(&url("http://a.example.org/x"))
                .unwrap_err(),
            "scheme http is not in queue.allow-schemes = [\"https\"] (add \"http\" there to allow it)"
        );
        assert_eq!(
            policy.check_url(&url("ftp://a.example.org/x")).unwrap_err(),
            "Baton downloads https and http only, not `ftp`"
        );
        assert!(
            policy
                .check_url(&url("file:///etc/passwd"))
                .unwrap_err()
                .contains("not `file`")
        );
        assert!(EgressPolicy::default().check_url(&url("http://x/")).is_ok());
    }

    #[test]
    fn bad_values_are_refused_naming_them() {
        assert!(
            EgressPolicy::new(vec!["ftp".into()], vec!["*".into()], Vec::new(), false)
                .unwrap_err()
                .contains("`ftp` is not a scheme Baton downloads")
        );
        assert!(
            EgressPolicy::new(vec!["http".into()], vec!["a[".into()], Vec::new(), false)
                .unwrap_err()
                .contains("`a[` is not a host pattern")
        );
        assert!(parse_range("10.0.0.0/33").is_err());
        assert!(parse_range("localhost").is_err());
        assert_eq!(
            parse_range("127.0.0.1").unwrap(),
            "127.0.0.1/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_range(" fd00::/8 ").unwrap(),
            "fd00::/8".parse::<IpNet>().unwrap()
        );
    }

    #[test]
    fn an_https_to_http_hop_is_a_downgrade_refused_unless_allowed() {
        let url = |text: &str| Url::parse(text).unwrap();
        let strict = EgressPolicy::default();
        let refused = strict
            .check_hop(&url("https://a.test/x"), &url("http://a.test/x"))
            .unwrap_err();
        assert_eq!(
            refused,
            "it downgrades https to http (allow it with queue.allow-downgrade = true)"
        );
        assert!(
            strict
                .check_hop(&url("http://a.test/x"), &url("https://b.test/y"))
                .is_ok()
        );
        assert!(
            strict
                .check_hop(&url("https://a.test/x"), &url("https://b.test/y"))
                .is_ok()
        );
        assert!(
            strict
                .check_hop(&url("http://a.test/x"), &url("http://b.test/y"))
                .is_ok()
        );
        let lenient = EgressPolicy::new(
            SCHEMES.iter().map(|s| s.to_string()).collect(),
            vec!["*".into()],
            Vec::new(),
            true,
        )
        .unwrap();
        assert!(
            lenient
                .check_hop(&url("https://a.test/x"), &url("http://a.test/x"))
                .is_ok()
        );
        // The hop's target passes the scheme and host rules too.
        let https_only = EgressPolicy::new(
            vec!["https".into()],
            vec!["a.test".into()],
            Vec::new(),
            true,
        )
        .unwrap();
        assert!(
            https_only
                .check_hop(&url("https://a.test/x"), &url("https://b.test/x"))
                .unwrap_err()
                .contains("queue.allow-hosts")
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port_as_rfc_6454_says() {
        let url = |text: &str| Url::parse(text).unwrap();
        assert!(same_origin(
            &url("http://a.test/x"),
            &url("http://a.test:80/y?q")
        ));
        assert!(same_origin(
            &url("https://a.test/x"),
            &url("https://A.TEST:443/")
        ));
        assert!(!same_origin(
            &url("http://a.test/x"),
            &url("https://a.test/x")
        ));
        assert!(!same_origin(
            &url("http://a.test/x"),
            &url("http://a.test:8080/x")
        ));
        assert!(!same_origin(
            &url("http://a.test/x"),
            &url("http://b.a.test/x")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.2:1/x"),
            &url("http://127.0.0.3:1/x")
        ));
    }
}
