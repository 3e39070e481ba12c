import BridgeCore
import Testing

@Suite("ConfigValueParser: durations, sizes, booleans")
struct ConfigValueParserTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("1s", .seconds(1)),
        ("1.5s", .milliseconds(1500)),
        ("2m", .seconds(120)),
        ("1h30m", .seconds(5400)),
        ("1h0m10s", .seconds(3610)),
        ("250ns", .nanoseconds(250)),
        ("0", .zero),
        ("0s", .zero),
        (" 10s ", .seconds(10)),
        ("0.5h", .seconds(1800)),
        ("250us", .microseconds(250)),
        ("1µs", .microseconds(1)),
    ])
    func parsesDurations(text: String, expected: Duration) {
        #expect(ConfigValueParser.duration(text) == expected)
    }

    /// Microsecond values must round, not truncate: 0.0001 s × 1e9 is 99999.99999999999.
    @Test(arguments: [("100us", Duration.microseconds(100)), ("15us", .microseconds(15)), ("50µs", .microseconds(50))])
    func parsesMicroseconds(text: String, expected: Duration) {
        #expect(ConfigValueParser.duration(text) == expected)
    }

    /// Past `Int64.max` nanoseconds (about 292 years) the parser refuses instead of trapping.
    @Test func overflowingDurationIsNilNotACrash() {
        #expect(ConfigValueParser.duration("9999999999h") == nil)
        #expect(ConfigValueParser.duration("99999999999999999999s") == nil)
    }

    @Test(arguments: ["", "   ", "abc", "10", "1.5", "-1s", "1x", "s", "1s2", "1 s", "1d", "1.2.3s", "ms"])
    func rejectsInvalidDurations(text: String) {
        #expect(ConfigValueParser.duration(text) == nil)
    }

    @Test(arguments: [
        ("1048576", 1_048_576),
        ("1MiB", 1_048_576),
        ("1mib", 1_048_576),
        ("512KiB", 524_288),
        ("1MB", 1_000_000),
        ("64k", 64_000),
        ("2GiB", 2_147_483_648),
        ("1.5MiB", 1_572_864),
        ("100 B", 100),
        ("0", 0),
    ])
    func parsesByteSizes(text: String, expected: Int) {
        #expect(ConfigValueParser.byteSize(text) == expected)
    }

    @Test(arguments: ["", "MiB", "abc", "1XB", "-1", "1 MiB extra", "1e3", "99999999999GiB"])
    func rejectsInvalidByteSizes(text: String) {
        #expect(ConfigValueParser.byteSize(text) == nil)
    }

    @Test(arguments: [
        ("true", true), ("TRUE", true), ("yes", true), ("1", true), ("on", true), (" true ", true),
        ("false", false), ("False", false), ("no", false), ("0", false), ("off", false),
    ])
    func parsesBooleans(text: String, expected: Bool) {
        #expect(ConfigValueParser.bool(text) == expected)
    }

    @Test(arguments: ["", "maybe", "2", "y", "t"])
    func rejectsInvalidBooleans(text: String) {
        #expect(ConfigValueParser.bool(text) == nil)
    }
}
