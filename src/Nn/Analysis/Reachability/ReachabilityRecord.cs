namespace Engine.Nn;

/// <summary>
/// One (x0, y*) pair of a reachability survey: the rank of y* under x0 alone (0 = already the output), and the
/// shortest control prompt length at which each method reached it (−1: not reached; null: the method was not run).
/// </summary>
/// <param name="State">The imposed state x0.</param>
/// <param name="Target">The target token y*.</param>
/// <param name="BaseRank">Tokens strictly more likely than y* after x0 alone (ties by id, as the argmax).</param>
/// <param name="ExactLength">Shortest |u| by exhaustive enumeration (exact), or −1 beyond the enumerated k.</param>
/// <param name="GreedyLength">Length at which the greedy back-generation reached y*.</param>
/// <param name="BackoffLength">Length at which the back-off search (greedy, then GCG) reached y*.</param>
public sealed record ReachabilityRecord(int[] State, int Target, int BaseRank, int? ExactLength, int GreedyLength, int BackoffLength);
