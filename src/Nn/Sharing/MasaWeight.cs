namespace Engine.Nn;

/// <summary>One row block of a MASA weight: the atoms of its projection type and this layer's coefficients.</summary>
/// <param name="Type">The projection type (<c>q</c>, <c>k</c>, <c>v</c>, <c>o</c>, <c>fc</c>, <c>proj</c>): parameter names <c>{type}_atoms</c>, <c>{type}_coef</c>.</param>
/// <param name="Atoms">[S, rows, in]: the type's atoms D_s, the same tensor in every layer.</param>
/// <param name="Coefficients">[S]: this layer's c_{l,s}.</param>
public sealed record MasaPart(string Type, Tensor Atoms, Tensor Coefficients);

/// <summary>
/// A MASA weight (matrix atoms shared across layers; spec adapters-other.md §14, structure-and-optimizers.md 1.6):
/// W_l = Σ_s c_{l,s} D_s for each projection type, the atoms D_s shared by all layers (one tensor registered in each),
/// the coefficients per layer. A fused projection (the GPT's <c>qkv</c>) is several parts stacked by rows, each from its
/// own type. Computed once per forward pass as one [1, S] × [S, rows·in] product per part, so the gradient of c_{l,s}
/// is ⟨∂L/∂W_l, D_s⟩_F and that of D_s is Σ_l c_{l,s} ∂L/∂W_l.
/// </summary>
public sealed class MasaWeight : WeightSource
{
    readonly string[] _types;

    /// <summary>A weight whose rows are the parts in order.</summary>
    /// <exception cref="ArgumentException">No parts, shapes that do not fit, or a repeated type.</exception>
    public MasaWeight(IReadOnlyList<MasaPart> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("MasaWeight: needs at least one part");
        int cols = -1, rows = 0;
        foreach (var p in parts)
        {
            if (p.Atoms.Rank != 3 || p.Coefficients.Rank != 1 || p.Coefficients.Size(0) != p.Atoms.Size(0))
                throw new ArgumentException($"MasaWeight: part '{p.Type}' needs atoms [S, rows, in] and coefficients [S], got {Shapes.Format(p.Atoms.Shape)} and {Shapes.Format(p.Coefficients.Shape)}");
            if (cols >= 0 && p.Atoms.Size(2) != cols)
                throw new ArgumentException($"MasaWeight: part '{p.Type}' has {p.Atoms.Size(2)} input features, the others {cols}");
            cols = p.Atoms.Size(2);
            rows += p.Atoms.Size(1);
            RegisterParameter(p.Type + "_atoms", p.Atoms);
            RegisterParameter(p.Type + "_coef", p.Coefficients);
        }
        _types = parts.Select(p => p.Type).ToArray();
        OutFeatures = rows;
        InFeatures = cols;
    }

    /// <inheritdoc/>
    public override int OutFeatures { get; }

    /// <inheritdoc/>
    public override int InFeatures { get; }

    /// <summary>The projection types of the row blocks, in order.</summary>
    public IReadOnlyList<string> Types => _types;

    /// <summary>The atoms [S, rows, in] of <paramref name="type"/>.</summary>
    public Tensor Atoms(string type) => GetParameter(type + "_atoms");

    /// <summary>This layer's coefficients [S] for <paramref name="type"/>.</summary>
    public Tensor Coefficients(string type) => GetParameter(type + "_coef");

    /// <summary>W = [Σ_s c_s D_s of each part] stacked by rows.</summary>
    public override Tensor Compute()
    {
        var blocks = _types.Select(t =>
        {
            var atoms = Atoms(t);
            int s = atoms.Size(0), rows = atoms.Size(1), cols = atoms.Size(2);
            return Coefficients(t).Reshape(1, s).MatMul(atoms.Reshape(s, rows * cols)).Reshape(rows, cols);
        }).ToArray();
        return blocks.Length == 1 ? blocks[0] : Tensor.Concat(blocks, 0);
    }
}
