using System.CommandLine;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// The sampling options that <c>engine sample</c> and <c>engine generate</c> share (temperature, top-k, top-p), with
/// one set of rules for both: temperature a finite number of 0 or more, top-k 0 or more, top-p in (0, 1].
/// </summary>
sealed class SamplingOptionSet
{
    readonly Option<double> _temperature, _topP;
    readonly Option<int> _topK;

    /// <summary>The options; <paramref name="unit"/> names what is sampled in the help ("characters", "tokens").</summary>
    public SamplingOptionSet(string unit)
    {
        _temperature = ValidatedOption.NonNegative("--temperature", "softmax temperature (0: greedy)", 0.8);
        _topK = ValidatedOption.Integer("--top-k", $"sample among the k most likely {unit} (0: all)", 0, min: 0);
        _topP = ValidatedOption.Number("--top-p", "sample within the nucleus of this probability mass (1: all)", 1.0, 0, 1, minExclusive: true);
    }

    /// <summary>The three options, to add to a command.</summary>
    public IEnumerable<Option> All => [_temperature, _topK, _topP];

    /// <summary>The options' values; <paramref name="greedy"/> overrides them all.</summary>
    public SamplingOptions Read(ParseResult r, bool greedy = false) => new(r.GetValue(_temperature), r.GetValue(_topK), r.GetValue(_topP), greedy);
}
