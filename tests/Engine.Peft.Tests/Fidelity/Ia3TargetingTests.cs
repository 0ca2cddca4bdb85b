using System.Text.Json.Nodes;
using Engine.Peft.Scaling;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// IA3's targeting from an <c>adapter_config.json</c>, as PEFT: a string is a regular expression over the whole path
/// (target_modules, feedforward_modules, exclude_modules); a list of feed-forward names matches any path that ends
/// with one of them (plain <c>endswith</c>, no dot boundary); listed feed-forward modules must be listed targets;
/// layers_to_transform picks layer indices found with layers_pattern.
/// </summary>
public class Ia3TargetingTests
{
    static Dictionary<string, bool> FeedforwardByPath(PeftModel peft) => peft.AdapterLayers()
        .ToDictionary(l => peft.PathOf(l.Path).External, l => ((Ia3Layer)l.Layer).IsFeedforward("default"));

    static Ia3Config FromJson(string json)
    {
        var config = PeftConfig.FromJson(JsonNode.Parse(json)!.AsObject());
        return Assert.IsType<Ia3Config>(config);
    }

    [Fact]
    public void RegexStrings_SelectTargetsFeedforwardAndExclusions()
    {
        var config = FromJson("""
            {"peft_type": "IA3",
             "target_modules": ".*\\.(c_attn|mlp\\.c_proj)",
             "feedforward_modules": ".*\\.mlp\\.c_proj",
             "exclude_modules": "transformer\\.h\\.1\\.attn\\.c_attn"}
            """);
        Assert.Equal(@".*\.(c_attn|mlp\.c_proj)", config.TargetModules!.Pattern);
        Assert.Equal(@".*\.mlp\.c_proj", config.FeedforwardModules!.Pattern);
        Assert.Equal(@"transformer\.h\.1\.attn\.c_attn", config.ExcludeModules!.Pattern);
        var peft = Peft.Apply(TinyGpt(), config);
        var expected = new Dictionary<string, bool>
        {
            ["transformer.h.0.attn.c_attn"] = false,
            ["transformer.h.0.mlp.c_proj"] = true,
            ["transformer.h.1.mlp.c_proj"] = true,
        };
        Assert.Equal(expected, FeedforwardByPath(peft));
        var layer = (Ia3Layer)peft.AdapterLayers().Single(l => l.Path == "blocks.0.mlp.proj").Layer;
        Assert.Equal([1, 16], layer.Vector("default").Shape);     // [1, in] for a feed-forward target
        var qkv = (Ia3Layer)peft.AdapterLayers().Single(l => l.Path == "blocks.0.attn.qkv").Layer;
        Assert.Equal([24, 1], qkv.Vector("default").Shape);       // [out, 1] otherwise
    }

    [Fact]
    public void RegexFeedforward_MustMatchTheWholePath()
    {
        // "c_proj" as a pattern does not fullmatch "transformer.h.0.mlp.c_proj": no feed-forward target at all.
        var config = FromJson("""{"peft_type": "IA3", "target_modules": ["c_attn", "c_proj"], "feedforward_modules": "c_proj"}""");
        Assert.All(FeedforwardByPath(Peft.Apply(TinyGpt(), config)).Values, Assert.False);
    }

    [Fact]
    public void ListedFeedforwardNames_MatchAnyPathEndingInThem_WithoutADotBoundary()
    {
        // "_proj" ends "attn.c_proj" and "mlp.c_proj" though no path component is "_proj".
        var suffix = FromJson("""{"peft_type": "IA3", "target_modules": ["c_attn", "c_proj", "_proj"], "feedforward_modules": ["_proj"]}""");
        var ff = FeedforwardByPath(Peft.Apply(TinyGpt(), suffix));
        Assert.Equal(6, ff.Count);
        Assert.All(ff, kv => Assert.Equal(kv.Key.EndsWith("c_proj", StringComparison.Ordinal), kv.Value));

        // "n.c_proj" ends "attn.c_proj" but not "mlp.c_proj".
        var partial = FromJson("""{"peft_type": "IA3", "target_modules": ["c_proj", "n.c_proj"], "feedforward_modules": ["n.c_proj"]}""");
        var ff2 = FeedforwardByPath(Peft.Apply(TinyGpt(), partial));
        Assert.Equal(4, ff2.Count);
        Assert.All(ff2, kv => Assert.Equal(kv.Key.Contains(".attn.", StringComparison.Ordinal), kv.Value));

        // "c_proj" as a listed feed-forward name: both attention and MLP output projections.
        var plain = FromJson("""{"peft_type": "IA3", "target_modules": ["c_attn", "c_proj"], "feedforward_modules": ["c_proj"]}""");
        var ff3 = FeedforwardByPath(Peft.Apply(TinyGpt(), plain));
        Assert.True(ff3["transformer.h.0.attn.c_proj"] && ff3["transformer.h.0.mlp.c_proj"] && !ff3["transformer.h.0.attn.c_attn"]);
    }

    [Fact]
    public void ListedFeedforwardModulesOutsideTheListedTargets_AreRejected()
    {
        // Read from a file: rejected when read, naming the field.
        var read = Assert.Throws<InvalidDataException>(() => FromJson("""{"peft_type": "IA3", "target_modules": ["c_attn", "c_proj"], "feedforward_modules": ["c_fc"]}"""));
        Assert.Contains("feedforward_modules [c_fc]", read.Message);
        var config = new Ia3Config { TargetModules = ["c_attn", "c_proj"], FeedforwardModules = ["c_fc"] };
        var e = Assert.Throws<ArgumentException>(config.Validate);
        Assert.Contains("c_fc", e.Message);
        var gpt = TinyGpt();
        var before = ModelSnapshot.Of(gpt);
        Assert.Throws<ArgumentException>(() => Peft.Apply(gpt, config));
        before.AssertUnchanged(gpt);
        // A subset is fine.
        (config with { FeedforwardModules = ["c_proj"] }).Validate();
    }

    [Theory]
    [InlineData("1", "\"h\"")]
    [InlineData("[1]", "[\"h\"]")]
    public void LayersToTransform_WithLayersPattern_AdaptsOnlyThoseLayers(string layers, string pattern)
    {
        var config = FromJson($$"""
            {"peft_type": "IA3", "target_modules": ["c_attn", "c_proj", "mlp.c_proj"], "feedforward_modules": ["mlp.c_proj"],
             "layers_to_transform": {{layers}}, "layers_pattern": {{pattern}}}
            """);
        Assert.Equal([1], config.LayersToTransform!);
        var expected = new Dictionary<string, bool>
        {
            ["transformer.h.1.attn.c_attn"] = false,
            ["transformer.h.1.attn.c_proj"] = false,
            ["transformer.h.1.mlp.c_proj"] = true,
        };
        Assert.Equal(expected, FeedforwardByPath(Peft.Apply(TinyGpt(), config)));
    }
}
