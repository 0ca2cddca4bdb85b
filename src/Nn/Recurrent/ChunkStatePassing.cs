using Engine.Autograd;

namespace Engine.Nn;

/// <summary>
/// The sequential part of the chunkwise delta rule (Yang et al. 2024), recorded as one op with its backward written
/// out. For chunk i with state S_i entering it: V'_i = U_i - W_i S_i (values corrected by what S_i already predicts),
/// O_i = (Q_i S_i) * decay_i + P_i V'_i, S_{i+1} = S_i * total_i + K_i^T V'_i (decay and total are 1 without a gate;
/// K_i are the keys scaled to the chunk's end). Recorded op by op, the backward would slice every chunk out of the
/// whole-sequence tensors and record a few dozen small ops per chunk; here it runs the recurrence backward once:
/// dV'_i = P_i^T dO_i + K_i dS_{i+1}, dS_i = dS_{i+1} * total_i + Q_i^T (dO_i * decay_i) - W_i^T dV'_i, and each
/// input's gradient is stacked once. The backward is written with tensor ops, so it can itself be differentiated.
/// </summary>
sealed class ChunkStatePassing(bool gated) : Function
{
    /// <summary>
    /// Queries, keys to chunk end, W [B, H, N, c, d_k]; U [B, H, N, c, d_v]; masked scores P [B, H, N, c, c]; the initial
    /// state [B, H, d_k, d_v]; with a gate, decay [B, H, N, c, 1] and total [B, H, N, 1, 1]. Returns the outputs
    /// [B, H, N, c, d_v] and the final state.
    /// </summary>
    public static (Tensor Output, Tensor State) Run(Tensor q, Tensor keysToEnd, Tensor w, Tensor u, Tensor scores, Tensor state, Tensor? decay, Tensor? total)
    {
        Tensor[] inputs = decay is null ? [q, keysToEnd, w, u, scores, state] : [q, keysToEnd, w, u, scores, state, decay, total!];
        // One output tensor holds both results: the N c output rows, then the d_k rows of the final state.
        var packed = new ChunkStatePassing(decay is not null).Apply(inputs);
        int b = q.Size(0), h = q.Size(1), n = q.Size(2), c = q.Size(3), dv = u.Size(-1);
        return (packed.Narrow(2, 0, n * c).Reshape(b, h, n, c, dv), packed.Narrow(2, n * c, state.Size(2)));
    }

    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
    {
        var (outputs, states, corrected, final) = Recur(inputs);
        var (q, u) = (inputs[0], inputs[3]);
        ctx.SaveForBackward([.. inputs, Tensor.Stack(states, 2), Tensor.Stack(corrected, 2)]);
        return Tensor.Concat([Tensor.Stack(outputs, 2).Reshape(q.Size(0), q.Size(1), q.Size(2) * q.Size(3), u.Size(-1)), final], 2);
    }

    // The forward recurrence: each chunk's output, the state entering it and its corrected values, and the final state.
    (Tensor[] Outputs, Tensor[] States, Tensor[] Corrected, Tensor Final) Recur(Tensor[] inputs)
    {
        var (q, keys, w, u, scores, s) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5]);
        int n = q.Size(2);
        var (states, corrected, outputs) = (new Tensor[n], new Tensor[n], new Tensor[n]);
        for (int i = 0; i < n; i++)
        {
            states[i] = s;
            var (qi, corrections) = (q.Select(2, i), u.Select(2, i) - w.Select(2, i).MatMul(s));
            var fromState = qi.MatMul(s);
            if (gated) fromState = fromState * inputs[6].Select(2, i);
            outputs[i] = fromState + scores.Select(2, i).MatMul(corrections);
            var carried = gated ? s * inputs[7].Select(2, i) : s;
            s = carried + keys.Select(2, i).MT.MatMul(corrections);
            corrected[i] = corrections;
        }
        return (outputs, states, corrected, s);
    }

    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput)
    {
        var saved = ctx.SavedTensors;
        var (q, keys, w, scores) = (saved[0], saved[1], saved[2], saved[4]);
        Tensor? decay = gated ? saved[6] : null, total = gated ? saved[7] : null;
        var (states, corrected) = (saved[^2], saved[^1]);
        if (Engine.Recording.GradMode.IsEnabled)
        {
            // A recorded backward (createGraph) needs the states as functions of the inputs, not the forward's constants.
            var (_, recordedStates, recordedCorrected, _) = Recur(saved[..^2]);
            (states, corrected) = (Tensor.Stack(recordedStates, 2), Tensor.Stack(recordedCorrected, 2));
        }
        int b = q.Size(0), h = q.Size(1), n = q.Size(2), c = q.Size(3), dv = corrected.Size(-1);
        var gradOutputs = gradOutput.Narrow(2, 0, n * c).Reshape(b, h, n, c, dv);
        var dState = gradOutput.Narrow(2, n * c, states.Size(-2));
        var (dq, dKeys, dw, du, dScores) = (new Tensor[n], new Tensor[n], new Tensor[n], new Tensor[n], new Tensor[n]);
        var (dDecay, dTotal) = (new Tensor[gated ? n : 0], new Tensor[gated ? n : 0]);
        for (int i = n - 1; i >= 0; i--)
        {
            // dState is the gradient of S_{i+1}, the state leaving chunk i.
            var (s, corrections, dOut, qi) = (states.Select(2, i), corrected.Select(2, i), gradOutputs.Select(2, i), q.Select(2, i));
            var dCorrected = scores.Select(2, i).MT.MatMul(dOut) + keys.Select(2, i).MatMul(dState);
            dKeys[i] = corrections.MatMul(dState.MT);
            dScores[i] = dOut.MatMul(corrections.MT);
            du[i] = dCorrected;
            dw[i] = -dCorrected.MatMul(s.MT);
            var dFromState = gated ? dOut * decay!.Select(2, i) : dOut;
            dq[i] = dFromState.MatMul(s.MT);
            if (gated)
            {
                dDecay[i] = (dOut * qi.MatMul(s)).Sum(-1, keepDim: true);
                dTotal[i] = (dState * s).Sum([-2, -1], keepDim: true);
            }
            var carried = gated ? dState * total!.Select(2, i) : dState;
            dState = carried + qi.MT.MatMul(dFromState) - w.Select(2, i).MT.MatMul(dCorrected);
        }
        Tensor?[] grads = [Tensor.Stack(dq, 2), Tensor.Stack(dKeys, 2), Tensor.Stack(dw, 2), Tensor.Stack(du, 2), Tensor.Stack(dScores, 2), dState];
        return gated ? [.. grads, Tensor.Stack(dDecay, 2), Tensor.Stack(dTotal, 2)] : grads;
    }
}
