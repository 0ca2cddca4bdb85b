namespace Engine.Peft.LowRank;

/// <summary>Which of B4M's two independent break runs (spec seeds-remaining.md §2, stage 1) trains an adapter.</summary>
public enum BreakRun
{
    /// <summary>The content run: A's trained half at the full rate on the content data, B's at the auxiliary rate on the auxiliary style sets.</summary>
    Content,

    /// <summary>The style run, the mirror: B's trained half at the full rate on the style data, A's at the auxiliary rate on the auxiliary content sets.</summary>
    Style,
}
