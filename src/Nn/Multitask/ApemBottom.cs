namespace Engine.Nn;

/// <summary>
/// APEM's task-adaptive bottom ("Adaptive Pattern Extraction Multi-task"; spec seeds-remaining.md §7, from the paper's
/// abstract, no public code): a group transformer over the field tokens (bidirectional self-attention with no
/// positions, since fields are a set, then a residual and LayerNorm), a squeeze-and-excitation reweighting of the
/// fields, and a <see cref="PatternSelector"/> that gives each task its own pooled vector z_t. Towers read z_t.
/// With one field the attention has one key (weight 1), so the bottom is a fixed linear map, LayerNorm and the field's
/// excitation: an MLP on that field, as the spec's oracle says.
/// Parameters <c>attention.*</c> (<see cref="MultiHeadAttention"/>), <c>norm.*</c>, <c>excitation.*</c>, <c>selector.*</c>.
/// </summary>
public sealed class ApemBottom : Module
{
    /// <summary>A bottom for <paramref name="tasks"/> tasks over <paramref name="fields"/> fields of width <paramref name="dim"/>.</summary>
    public ApemBottom(int fields, int dim, int heads, int tasks, Generator? generator = null)
    {
        if (fields < 1) throw new ArgumentException($"ApemBottom: fields must be positive, got {fields}");
        (Fields, Dim) = (fields, dim);
        RegisterModule("attention", new MultiHeadAttention(new AttentionOptions(dim, heads, Causal: false), generator));
        RegisterModule("norm", new LayerNorm(dim));
        RegisterModule("excitation", new FieldSqueezeExcitation(fields, dim, Math.Max(2, fields), FieldSqueeze.MeanPerField, generator));
        RegisterModule("selector", new PatternSelector(tasks, dim, generator));
    }

    /// <summary>F.</summary>
    public int Fields { get; }

    /// <summary>d.</summary>
    public int Dim { get; }

    /// <summary>The field reweighting.</summary>
    public FieldSqueezeExcitation Excitation => Unwrapped<FieldSqueezeExcitation>("excitation");

    /// <summary>The per-task pattern selector.</summary>
    public PatternSelector Selector => Unwrapped<PatternSelector>("selector");

    /// <summary>The fields after the group transformer and the reweighting, [B, F, d].</summary>
    public Tensor Transformed(Tensor fields)
    {
        if (fields.Rank != 3 || fields.Size(1) != Fields || fields.Size(2) != Dim)
            throw new ArgumentException($"ApemBottom: expects fields [batch, {Fields}, {Dim}], got {Shapes.Format(fields.Shape)}");
        var h = Child("norm").Forward(fields + Child("attention").Forward(fields));
        return Child("excitation").Forward(h);
    }

    /// <summary>z [B, T, d]: each task's representation of fields [B, F, d].</summary>
    public override Tensor Forward(Tensor fields) => Child("selector").Forward(Transformed(fields));
}
