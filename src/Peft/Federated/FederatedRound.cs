namespace Engine.Peft.Federated;

/// <summary>
/// What one round of <see cref="FederatedSimulator"/> measured, after aggregation.
/// </summary>
/// <param name="Round">1 for the first round; 0 for the measurement before any training.</param>
/// <param name="GlobalLoss">Σ p_k L_k over every client (participants or not): the clients' validation losses of the global model, weighted by data size (FedAvg's objective).</param>
/// <param name="ClientLosses">L_k: each client's validation loss of the global model.</param>
/// <param name="FactorAverageGap">‖ΔW − B̄Ā‖_F / ‖ΔW‖_F over all adapted layers (Frobenius norms of the stacked layers), with ΔW = Σ p_k B_k A_k over the round's participants: the bias of averaging the factors. NaN in round 0 and when ΔW = 0.</param>
/// <param name="GlobalGap">The same gap for what the global model carries after this rule (LoRA-FAIR: B̄'Ā; the product rule: 0; FedAvg: equal to <paramref name="FactorAverageGap"/>).</param>
/// <param name="Participants">The indices of the clients that trained this round (all of them at full participation; none in round 0).</param>
/// <param name="Communication">The bytes the round sent (<see cref="FederatedTraffic"/>); zero in round 0.</param>
public sealed record FederatedRound(int Round, double GlobalLoss, IReadOnlyList<double> ClientLosses, double FactorAverageGap, double GlobalGap,
    IReadOnlyList<int> Participants, FederatedTraffic Communication);
