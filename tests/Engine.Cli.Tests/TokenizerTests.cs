using System.Text;
using System.Text.Json;
using Engine.Nn;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>The prompt path of `engine generate`: GPT-2 byte-level BPE from vocab.json + merges.txt, else bytes.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class TokenizerTests
{
    // GPT-2's bytes_to_unicode (encoder.py): printable Latin-1 bytes stand for themselves, the rest map to 256 + n.
    static string[] ByteSymbols()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        var symbols = new string[256];
        int extra = 0;
        for (int b = 0; b < 256; b++) symbols[b] = ((char)(printable.Contains(b) ? b : 256 + extra++)).ToString();
        return symbols;
    }

    /// <summary>A random tiny GPT-2 folder of <paramref name="vocab"/> tokens; with a BPE of the 256 bytes plus "he" (256), "ll" (257) and GPT-2's end-of-text token (258).</summary>
    static string Folder(int vocab, bool withTokenizer)
    {
        var folder = CliRun.TempFolder();
        Gpt2Checkpoint.Save(new Gpt(new GptConfig(vocab, 24, 16, 1, 2), new Generator(7)), folder);
        if (withTokenizer)
        {
            var entries = ByteSymbols().Select((s, id) => (s, id)).ToDictionary(e => e.s, e => e.id);
            entries["he"] = 256;
            entries["ll"] = 257;
            entries["<|endoftext|>"] = 258;
            File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(entries));
            File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\nh e\nl l\n");
        }
        return folder;
    }

    [Fact]
    public void Prompt_WithBpeTokenizer_IsEncodedWithTheMerges()
    {
        var folder = Folder(259, withTokenizer: true);
        int[] expectedIds = [256, 257, 'o'];

        var fromPrompt = CliRun.Invoke("generate", "--model", folder, "--prompt", "hello", "--greedy", "--max-new-tokens", "6");
        var fromIds = CliRun.Invoke("generate", "--model", folder, "--ids", string.Join(",", expectedIds), "--greedy", "--max-new-tokens", "6");

        Assert.True(fromPrompt.ExitCode == 0, fromPrompt.Error);
        Assert.Equal(0, fromIds.ExitCode);
        Assert.StartsWith("hello", fromPrompt.Out);
        Assert.Equal(fromIds.Out, fromPrompt.Out);
        var inspect = CliRun.Invoke("inspect", folder);
        Assert.Contains("tokenizer: GPT-2 BPE", inspect.Out);
    }

    [Fact]
    public void Prompt_WithoutTokenizer_UsesOneTokenPerUtf8Byte()
    {
        var folder = Folder(256, withTokenizer: false);
        var bytes = Encoding.UTF8.GetBytes("hé!");

        var fromPrompt = CliRun.Invoke("generate", "--model", folder, "--prompt", "hé!", "--max-new-tokens", "4", "--seed", "3");
        var fromIds = CliRun.Invoke("generate", "--model", folder, "--ids", string.Join(",", bytes), "--max-new-tokens", "4", "--seed", "3");

        Assert.True(fromPrompt.ExitCode == 0, fromPrompt.Error);
        Assert.StartsWith("hé!", fromPrompt.Out);
        Assert.Equal(fromIds.Out, fromPrompt.Out);
    }

    [Fact]
    public void Prompt_OfAGpt2SizedFolderWithoutTokenizerFiles_UsesGpt2sPackagedVocabulary()
    {
        var folder = Folder(50257, withTokenizer: false); // GPT-2's vocabulary size
        // "Hello" and " world" are tokens 15496 and 995 of GPT-2's released vocabulary (encoder.json).
        var fromPrompt = CliRun.Invoke("generate", "--model", folder, "--prompt", "Hello world", "--greedy", "--max-new-tokens", "3");
        var fromIds = CliRun.Invoke("generate", "--model", folder, "--ids", "15496,995", "--greedy", "--max-new-tokens", "3");

        Assert.True(fromPrompt.ExitCode == 0, fromPrompt.Error);
        Assert.StartsWith("Hello world", fromPrompt.Out);
        Assert.Equal(fromIds.Out, fromPrompt.Out);
        Assert.Contains("tokenizer: GPT-2 BPE (packaged", CliRun.Invoke("inspect", folder).Out);
    }
}
