import HotPathFixtures

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Runs one hot-path operation a given number of times and nothing else, for counting instructions with
// `valgrind --tool=callgrind`: the difference between a run of N and a run of 0 operations, divided by N, is the
// cost of one operation, independent of how busy the machine is. (The benchmark suite itself cannot run under
// valgrind: its malloc interposer crashes it.)
//
// Usage: HotPathCount <operation> <count>     HotPathCount --list

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--list" {
    for operation in HotPathOperation.allCases { print("\(operation.rawValue)\t\(operation.title)") }
} else if arguments.count == 2, let operation = HotPathOperation(rawValue: arguments.first!),
    let count = Int(arguments.last!), count >= 0
{
    Checks.verifyAll()
    operation.run(count)
} else {
    let names = HotPathOperation.allCases.map(\.rawValue).joined(separator: ", ")
    print("usage: HotPathCount <operation> <count>   (operations: \(names))   |   HotPathCount --list")
    exit(2)
}
