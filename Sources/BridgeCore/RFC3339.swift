/// Parses RFC 3339 timestamps with nanosecond precision (Loki's legacy JSON push format).
///
/// Foundation's ISO 8601 parser stops at milliseconds; Loki keeps nanoseconds, so entries that
/// differ only below a millisecond must stay distinct.
package enum RFC3339 {
    /// Nanoseconds since the Unix epoch for `text` such as `2024-05-01T12:00:00.123456789Z` or
    /// `2018-12-18T08:28:06.801064-04:00`; `nil` when it is not RFC 3339.
    package static func parseNanos(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var value = 0
            for index in range {
                guard b[index] >= 48, b[index] <= 57 else { return nil }
                value = value * 10 + Int(b[index] - 48)
            }
            return value
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116 || b[10] == 32,
            b[13] == 58, b[16] == 58,
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        guard day <= daysInMonth(month, year: year) else { return nil }
        var index = 19
        var fraction: Int64 = 0
        if b[index] == 46 {
            index += 1
            var digits = 0
            while index < b.count, b[index] >= 48, b[index] <= 57 {
                if digits < 9 { fraction = fraction * 10 + Int64(b[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            if digits < 9 { for _ in digits..<9 { fraction *= 10 } }
        }
        guard index < b.count else { return nil }
        var offsetSeconds = 0
        switch b[index] {
        case 90, 122:  // Z z
            guard index + 1 == b.count else { return nil }
        case 43, 45:  // + -
            guard index + 6 == b.count, b[index + 3] == 58,
                let offsetHours = number(index + 1..<index + 3), let offsetMinutes = number(index + 4..<index + 6)
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (b[index] == 45 ? -1 : 1)
        default:
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return seconds * 1_000_000_000 + fraction
    }

    /// `2024-05-01T12:00:00.123Z` for milliseconds since the Unix epoch (UTC); without
    /// `fraction`, Go's `time.RFC3339` in UTC (`2024-05-01T12:00:00Z`, rounded down to the second).
    package static func format(millis: Int64, fraction: Bool = true) -> String {
        var days = millis / 86_400_000
        var rest = millis % 86_400_000
        if rest < 0 {
            days -= 1
            rest += 86_400_000
        }
        let (year, month, day) = civilFromDays(Int(days))
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value.magnitude)
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let seconds = Int(rest / 1000)
        let time = "\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))"
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(time)" + (fraction ? ".\(pad(Int(rest % 1000), 3))Z" : "Z")
    }

    /// Inverse of ``daysFromCivil(year:month:day:)`` (Howard Hinnant's algorithm).
    package static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
