import Foundation
import Synchronization

extension UUID {
    /// A version 7 UUID: 48 bits of Unix milliseconds, then 74 bits that are random for the
    /// first id of a millisecond and count up from there for the next ones (RFC 9562 §6.2,
    /// method 2), so the ids one process makes are strictly increasing, even within one
    /// millisecond or when the clock steps back.
    ///
    /// Time-ordered ids keep the primary-key index's inserts at its right edge and let
    /// "newest first" listings walk the primary key.
    static func v7(at date: Date = Date()) -> UUID {
        let (milliseconds, randA, randB) = V7Sequence.shared.withLock { sequence in
            sequence.next(milliseconds: UInt64(max(0, date.timeIntervalSince1970 * 1000)))
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(index))) }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: randA >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: randA)
        for index in 8..<16 { bytes[index] = UInt8(truncatingIfNeeded: randB >> (8 * UInt64(15 - index))) }
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

/// The time and counter of the last v7 id this process made.
struct V7Sequence {
    static let shared = Mutex(V7Sequence())

    private static let randAMask: UInt64 = (1 << 12) - 1
    private static let randBMask: UInt64 = (1 << 62) - 1

    private var milliseconds: UInt64 = 0
    /// The 12 bits after the version.
    private var randA: UInt64 = 0
    /// The 62 bits after the variant.
    private var randB: UInt64 = 0

    /// The time and random bits of the next id: fresh random bits in a new millisecond, else
    /// the last id's bits plus one.
    mutating func next(milliseconds now: UInt64) -> (milliseconds: UInt64, randA: UInt64, randB: UInt64) {
        if now > self.milliseconds {
            var generator = SystemRandomNumberGenerator()
            self.milliseconds = now
            self.randA = generator.next() & Self.randAMask
            self.randB = generator.next() & Self.randBMask
        } else if self.randB < Self.randBMask {
            self.randB += 1
        } else if self.randA < Self.randAMask {
            self.randB = 0
            self.randA += 1
        } else {
            // 74 bits used up within one millisecond: borrow the next millisecond.
            self.milliseconds += 1
            self.randA = 0
            self.randB = 0
        }
        return (self.milliseconds, self.randA, self.randB)
    }
}
