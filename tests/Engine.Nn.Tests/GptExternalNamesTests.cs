using Xunit;

namespace Engine.Nn.Tests;

/// <summary>The GPT's module paths in Hugging Face GPT2LMHeadModel, for adapter files written against GPT-2.</summary>
public class GptExternalNamesTests
{
    static readonly IExternalModuleNames Names = new Gpt(new GptConfig(11, 8, 16, 2, 2, TiedHead: false), new Generator(1));

    [Theory]
    [InlineData("blocks.0.attn.qkv", "transformer.h.0.attn.c_attn")]
    [InlineData("blocks.1.attn.proj", "transformer.h.1.attn.c_proj")]
    [InlineData("blocks.1.mlp.fc", "transformer.h.1.mlp.c_fc")]
    [InlineData("blocks.0.ln1", "transformer.h.0.ln_1")]
    [InlineData("tok", "transformer.wte")]
    [InlineData("ln_f", "transformer.ln_f")]
    [InlineData("head", "lm_head")]
    [InlineData("blocks.1.attn", "transformer.h.1.attn")]
    [InlineData("blocks.0.mlp", "transformer.h.0.mlp")]
    public void ExternalPath_IsTheHuggingFaceGpt2Path(string engine, string hf) => Assert.Equal(hf, Names.ExternalPath(engine));

    [Theory]
    [InlineData("blocks")]
    [InlineData("blocks.0")]
    [InlineData("blocks.0.s4d.output")]
    public void ExternalPath_KeepsTheEngineNameOfOtherModules(string engine) => Assert.Equal(engine, Names.ExternalPath(engine));

    [Theory]
    [InlineData("blocks.0.attn.qkv", true)]
    [InlineData("blocks.0.mlp.proj", true)]
    [InlineData("blocks.0.ln1", false)]
    [InlineData("tok", false)]
    [InlineData("head", false)]
    public void IsConv1D_MarksGpt2Conv1DLayers(string engine, bool conv1D) => Assert.Equal(conv1D, Names.IsConv1D(engine));
}
