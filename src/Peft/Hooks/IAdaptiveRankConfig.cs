namespace Engine.Peft;

/// <summary>
/// A method whose rank changes while it trains (AdaLoRA's budget schedule): what a rank map or a report needs to know,
/// asked of the configuration rather than of the method's types, so tools work for any such method.
/// </summary>
public interface IAdaptiveRankConfig
{
    /// <summary>The method's name for titles (<c>AdaLoRA</c>).</summary>
    string MethodName { get; }

    /// <summary>The rank every adapted module starts with.</summary>
    int InitialRank { get; }

    /// <summary>The average rank the budget aims at.</summary>
    int TargetRank { get; }

    /// <summary>The current rank of the module at <paramref name="path"/> (the initial rank before any is fixed).</summary>
    int RankOf(ModulePath path);
}
