namespace Engine.Peft.Federated;

/// <summary>
/// One client of <see cref="FederatedSimulator"/>: its share of the data and what it does with the shared model. The
/// simulator writes the server's factors into the model, calls <see cref="TrainLocally"/>, reads the factors back, and
/// after aggregation calls <see cref="ValidationLoss"/> on the global model. Clients run one after another on one
/// model (the base is the same for all), so a client must not keep references to tensors between calls.
/// </summary>
/// <param name="Name">How tables name the client.</param>
/// <param name="DataSize">The number of training examples it holds; its aggregation weight is p_k = DataSize / Σ DataSize.</param>
/// <param name="TrainLocally">Local training from the broadcast factors: (model, round from 1).</param>
/// <param name="ValidationLoss">The loss of the model on the client's own validation data (the model in evaluation mode, no recording).</param>
public sealed record FederatedClient(string Name, long DataSize, Action<PeftModel, int> TrainLocally, Func<PeftModel, double> ValidationLoss);
