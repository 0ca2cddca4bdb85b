using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// The non-IID split of the names job into federated clients (<c>engine federated</c>): the names are grouped by their
/// first letter (case-insensitive), the letters taken in alphabetical order and cut into <c>K</c> contiguous ranges
/// holding about equal numbers of names (a cut falls on the first letter boundary at or past k/K of the names). Each
/// client thus sees different name beginnings (label-skew in the next-character task), and sizes differ somewhat, so
/// the weights p_k ∝ size are not all equal.
/// </summary>
static class NamesClientSplit
{
    /// <summary>One client's share: its letter range ("a-d") and its names.</summary>
    public sealed record Part(string Range, IReadOnlyList<string> Names);

    /// <summary>The <paramref name="clients"/> parts of <paramref name="names"/>; throws when there are fewer distinct first letters than clients.</summary>
    public static IReadOnlyList<Part> Split(IReadOnlyList<string> names, int clients)
    {
        var letters = names.GroupBy(n => char.ToLowerInvariant(n[0])).OrderBy(g => g.Key).ToList();
        if (letters.Count < clients)
            throw new ArgumentException($"--clients {clients}: the names have only {letters.Count} distinct first letters, and each client needs at least one");
        var parts = new List<Part>();
        int next = 0, taken = 0;
        for (int k = 0; k < clients; k++)
        {
            int first = next;
            long goal = (long)names.Count * (k + 1) / clients;
            // Take letters until the share is reached, leaving at least one letter for every later client.
            do { taken += letters[next].Count(); next++; }
            while (next < letters.Count - (clients - 1 - k) && (k == clients - 1 || taken < goal));
            var group = letters.Skip(first).Take(next - first).ToList();
            string range = group.Count == 1 ? $"{group[0].Key}" : $"{group[0].Key}-{group[^1].Key}";
            parts.Add(new Part(range, group.SelectMany(g => g).ToList()));
        }
        return parts;
    }
    /// <summary>
    /// The label-skewed split of FedPEFT's harness (<see cref="DirichletSplit"/>, Hsu et al. 2019) with a name's first
    /// letter (case-insensitive) as its label: each letter's names are spread over the clients in Dirichlet(α)
    /// proportions drawn with <paramref name="seed"/>. Clients are named #1..#K; each gets at least 20 names, enough for
    /// its own validation names.
    /// </summary>
    public static IReadOnlyList<Part> Dirichlet(IReadOnlyList<string> names, int clients, double alpha, ulong seed)
    {
        var labels = names.Select(n => (int)char.ToLowerInvariant(n[0])).ToList();
        var indices = DirichletSplit.Split(labels, clients, alpha, new Generator(seed + 100), minPerClient: 20);
        return indices.Select((part, k) => new Part($"#{k + 1}", part.Select(i => names[i]).ToList())).ToList();
    }
}
