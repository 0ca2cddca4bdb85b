namespace Engine.Peft.Federated;

/// <summary>
/// The bytes one federated round moves (FedPEFT's communication figure, spec seeds-remaining.md §11), counting tensor
/// payloads at the adapter's element size and nothing for framing. Down: the global factors to every participant, plus,
/// when the rule folds a residual into the frozen base (<see cref="ProductAveraging"/>), that full-size residual to
/// every client, participant or not, since all of them share the base. Up: each participant's factors.
/// </summary>
/// <param name="Down">Server to clients, in bytes.</param>
/// <param name="Up">Clients to server, in bytes.</param>
public sealed record FederatedTraffic(long Down, long Up)
{
    /// <summary>No traffic (round 0).</summary>
    public static FederatedTraffic None { get; } = new(0, 0);

    /// <summary>Down + up.</summary>
    public long Total => Down + Up;
}
