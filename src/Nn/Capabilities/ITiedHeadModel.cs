namespace Engine.Nn;

/// <summary>
/// A model whose output head may be its token embedding (tied) and that can show such a head as a module of its own,
/// so that adapters can target it (PEFT targets GPT-2's <c>lm_head</c>, a Linear sharing <c>wte</c>'s weight).
/// </summary>
public interface ITiedHeadModel
{
    /// <summary>The module path the head takes once shown (<c>head</c>), or null when the head is untied.</summary>
    string? TiedHeadPath { get; }

    /// <summary>Registers the tied head under <see cref="TiedHeadPath"/>; the model computes the same function.</summary>
    void ShowTiedHead();
}
