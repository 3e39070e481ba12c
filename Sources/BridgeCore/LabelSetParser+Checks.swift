extension LabelTextParser {
    /// Loki's `ParseLabels` normalisation and `ValidateLabels` checks, in its order.
    mutating func check(_ limits: EntryLimits) throws(LabelSetError) {
        let count = scratch.labels.count
        sortByName()
        var kept = 0
        var serviceName = false
        var internalStream = false
        var groupStart = 0
        while groupStart < count {
            var groupEnd = groupStart + 1
            while groupEnd < count, nameEquals(scratch.order[groupStart], scratch.order[groupEnd]) { groupEnd += 1 }
            var anyEmpty = false
            for k in groupStart..<groupEnd where scratch.labels[scratch.order[k]].value.isEmpty { anyEmpty = true }
            for k in groupStart..<groupEnd { scratch.labels[scratch.order[k]].dropped = anyEmpty }
            if !anyEmpty {
                kept += groupEnd - groupStart
                let name = scratch.labels[scratch.order[groupStart]].name
                if nameIs(name, "service_name") { serviceName = true }
                if nameIs(name, "__aggregated_metric__") || nameIs(name, "__pattern__") { internalStream = true }
            }
            groupStart = groupEnd
        }
        guard kept > 0 else { throw .empty }
        if internalStream { return }
        let counted = kept - (serviceName ? 1 : 0)
        guard counted <= limits.maxLabelNamesPerSeries else {
            throw .tooManyNames(count: counted, limit: limits.maxLabelNamesPerSeries)
        }
        var previous: Int?
        for index in scratch.order where !scratch.labels[index].dropped {
            let label = scratch.labels[index]
            guard label.name.count <= limits.maxLabelNameLength else {
                throw .nameTooLong(name: text(label.name), length: label.name.count, limit: limits.maxLabelNameLength)
            }
            guard label.value.count <= limits.maxLabelValueLength else {
                throw .valueTooLong(
                    name: text(label.name),
                    value: text(label.value),
                    length: label.value.count,
                    limit: limits.maxLabelValueLength
                )
            }
            if let previous, nameEquals(previous, index) { throw .duplicateName(text(label.name)) }
            previous = index
        }
    }

    /// Fills `scratch.order` with the label indices, stably sorted by name bytes.
    private mutating func sortByName() {
        scratch.order.removeAll(keepingCapacity: true)
        scratch.order.append(contentsOf: scratch.labels.indices)
        let count = scratch.order.count
        if count <= 24 {
            // Insertion sort: stable, no allocation, and label sets are small.
            var k = 1
            while k < count {
                let current = scratch.order[k]
                var j = k
                while j > 0, compareNames(scratch.order[j - 1], current) > 0 {
                    scratch.order[j] = scratch.order[j - 1]
                    j -= 1
                }
                scratch.order[j] = current
                k += 1
            }
        } else {
            let bytes = scratch.bytes
            let labels = scratch.labels
            scratch.order.sort { a, b in
                let order = Self.compare(bytes, labels[a].name, labels[b].name)
                return order < 0 || (order == 0 && a < b)
            }
        }
    }

    private func compareNames(_ a: Int, _ b: Int) -> Int {
        Self.compare(scratch.bytes, scratch.labels[a].name, scratch.labels[b].name)
    }

    private func nameEquals(_ a: Int, _ b: Int) -> Bool { compareNames(a, b) == 0 }

    private static func compare(_ bytes: [UInt8], _ a: Range<Int>, _ b: Range<Int>) -> Int {
        var x = a.lowerBound
        var y = b.lowerBound
        while x < a.upperBound, y < b.upperBound {
            if bytes[x] != bytes[y] { return bytes[x] < bytes[y] ? -1 : 1 }
            x += 1
            y += 1
        }
        return a.count - b.count
    }

    private func nameIs(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for k in 0..<range.count where scratch.bytes[range.lowerBound + k] != expected[k] { return false }
        return true
    }
}
