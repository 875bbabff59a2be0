import BoxOfficeHTTP
import Testing

/// Who a request came from, behind trusted reverse proxies or not.
@Suite struct ClientAddressTests {
    @Test func rangesParseAddressesAndBlocksAndRefuseTheRest() {
        let private10 = try! #require(IPAddressRange("10.0.0.0/8"))
        #expect(private10.contains([10, 1, 2, 3]) && !private10.contains([11, 0, 0, 1]))
        #expect(IPAddressRange("192.0.2.7")?.description == "192.0.2.7/32")
        #expect(IPAddressRange(" ::1 ")?.description == "::1/128")
        #expect(IPAddressRange("fd00::/8")?.description == "fd00::/8")
        #expect(IPAddressRange("::ffff:10.0.0.1")?.description == "10.0.0.1/32", "IPv4-mapped is IPv4")
        #expect(IPAddressRange("172.16.0.0/12")?.contains([172, 31, 255, 255]) == true)
        #expect(IPAddressRange("172.16.0.0/12")?.contains([172, 32, 0, 0]) == false)
        for invalid in ["", "nope", "10.0.0.0/33", "10.0.0.0/", "1.2.3.4/x", "::1/129", "10.0.0.0/8/8", "300.1.1.1"] {
            #expect(IPAddressRange(invalid) == nil, "\(invalid)")
        }
    }

    @Test func theBOXOFFICE_TRUSTED_PROXIESListNamesItsFirstBadEntry() throws {
        let good = try ClientAddressResolver.parse("127.0.0.1, 10.0.0.0/8,,::1").get()
        #expect(good.map(\.description) == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"])
        guard case .failure(let invalid) = ClientAddressResolver.parse("10.0.0.0/8, proxy.local") else {
            Issue.record("a host name is not an address")
            return
        }
        #expect(invalid.entry == "proxy.local")
    }

    @Test func withoutTrustedProxiesThePeerIsTheClientWhateverTheHeaderSays() {
        let resolver = ClientAddressResolver()
        #expect(resolver.clientAddress(peer: "198.51.100.4", forwardedFor: ["203.0.113.9"]) == "198.51.100.4")
        #expect(resolver.clientAddress(peer: nil, forwardedFor: ["203.0.113.9"]) == nil)
        #expect(resolver.clientAddress(peer: "::ffff:198.51.100.4", forwardedFor: []) == "198.51.100.4")
    }

    @Test func behindTrustedProxiesTheNearestUntrustedHopIsTheClient() throws {
        let resolver = ClientAddressResolver(trustedProxies: try ClientAddressResolver.parse("127.0.0.1, 10.0.0.0/8").get())
        // The client wrote 198.51.100.1 itself; the proxies appended 203.0.113.9 and 10.0.0.2.
        #expect(resolver.clientAddress(peer: "127.0.0.1", forwardedFor: ["198.51.100.1, 203.0.113.9", "10.0.0.2"]) == "203.0.113.9")
        #expect(resolver.clientAddress(peer: "127.0.0.1", forwardedFor: []) == "127.0.0.1")
        #expect(resolver.clientAddress(peer: "127.0.0.1", forwardedFor: ["[2001:db8::5]:443"]) == "2001:db8::5")
        #expect(resolver.clientAddress(peer: "127.0.0.1", forwardedFor: ["192.0.2.8:51000"]) == "192.0.2.8")
        // Garbage stops the walk at the last hop a trusted proxy vouched for.
        #expect(resolver.clientAddress(peer: "127.0.0.1", forwardedFor: ["evil, 10.0.0.2"]) == "10.0.0.2")
        // An untrusted peer's header is ignored.
        #expect(resolver.clientAddress(peer: "192.0.2.99", forwardedFor: ["203.0.113.9"]) == "192.0.2.99")
    }

    @Test func limitsCountAnIPv4AddressOrAnIPv6Slash64() {
        #expect(ClientAddressResolver.limitKey("192.0.2.7") == "192.0.2.7")
        #expect(ClientAddressResolver.limitKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64")
        #expect(ClientAddressResolver.limitKey("2001:db8:1:2::1") == ClientAddressResolver.limitKey("2001:db8:1:2:ffff::9"))
        #expect(ClientAddressResolver.limitKey("2001:db8:1:3::1") != ClientAddressResolver.limitKey("2001:db8:1:2::1"))
    }
}
