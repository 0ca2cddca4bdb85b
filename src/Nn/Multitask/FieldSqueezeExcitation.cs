namespace Engine.Nn;

/// <summary>How <see cref="FieldSqueezeExcitation"/> squeezes the F field embeddings before its two layers.</summary>
public enum FieldSqueeze
{
    /// <summary>Each field to the mean of its d coordinates, giving F numbers (FiBiNET's SENET layer, Huang et al. 2019): APEM's reweighting [engine: the abstract's "mean_f h_f" does not say over which axis].</summary>
    MeanPerField,

    /// <summary>All fields concatenated, F·d numbers: DTRN's TS-SENet, <c>σ(W2 ReLU(W1 [e_1; …; e_F]))</c> (spec seeds-remaining.md §7).</summary>
    Concatenate,
}

/// <summary>
/// Squeeze-and-excitation over feature fields (Hu et al. 2018, applied to fields as in FiBiNET): from fields
/// e [B, F, d], weights <c>s = σ(W2 ReLU(W1 squeeze(e) + b1) + b2)</c> ∈ (0, 1)^F and the reweighted fields
/// <c>ê_f = s_f e_f</c>. APEM uses it after its field transformer; DTRN gives each task its own (TS-SENet), so each task
/// sees the fields weighted for it (spec seeds-remaining.md §7). Parameters <c>squeeze.weight/bias</c>,
/// <c>excite.weight/bias</c>.
/// </summary>
public sealed class FieldSqueezeExcitation : Module
{
    /// <summary>Over <paramref name="fields"/> fields of width <paramref name="dim"/>, with <paramref name="hidden"/> units between the two layers.</summary>
    /// <exception cref="ArgumentException">A size that is not positive.</exception>
    public FieldSqueezeExcitation(int fields, int dim, int hidden, FieldSqueeze squeeze, Generator? generator = null)
    {
        if (fields < 1 || dim < 1 || hidden < 1) throw new ArgumentException($"FieldSqueezeExcitation: fields {fields}, dim {dim} and hidden {hidden} must be positive");
        (Fields, Dim, Squeeze) = (fields, dim, squeeze);
        RegisterModule("squeeze", new Linear(squeeze == FieldSqueeze.Concatenate ? fields * dim : fields, hidden, generator: generator));
        RegisterModule("excite", new Linear(hidden, fields, generator: generator));
    }

    /// <summary>F.</summary>
    public int Fields { get; }

    /// <summary>d.</summary>
    public int Dim { get; }

    /// <summary>What the first layer reads.</summary>
    public FieldSqueeze Squeeze { get; }

    /// <summary>The second layer (W2, b2): zero it and every weight is σ(0) = 1/2.</summary>
    public Linear Excite => Unwrapped<Linear>("excite");

    /// <summary>The weights s [B, F] of fields [B, F, d].</summary>
    public Tensor Weights(Tensor fields)
    {
        if (fields.Rank != 3 || fields.Size(1) != Fields || fields.Size(2) != Dim)
            throw new ArgumentException($"FieldSqueezeExcitation: expects fields [batch, {Fields}, {Dim}], got {Shapes.Format(fields.Shape)}");
        var squeezed = Squeeze == FieldSqueeze.Concatenate ? fields.Reshape(fields.Size(0), Fields * Dim) : fields.Mean(-1);
        return Child("excite").Forward(Child("squeeze").Forward(squeezed).Relu()).Sigmoid();
    }

    /// <summary>ê = s ⊙ e, [B, F, d].</summary>
    public override Tensor Forward(Tensor fields) => fields * Weights(fields).Unsqueeze(-1);
}
