import Testing

/// Every suite of this target nests in this one and runs serially: the memory test measures the whole process,
/// and the socket tests start processes that should not compete with each other for the two CPUs.
@Suite(.serialized)
enum AlbatrossTLSTests {}
