using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft;
using Engine.Pretrained.Text;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Pretrained;

/// <summary>
/// A text classifier a user can keep: all-MiniLM-L6-v2 (frozen) with a classification head, adapted by any layer
/// adapter of the registry or by the head alone. A saved classifier is a folder: <c>text_classifier.json</c> (base
/// model, classes, maximum tokens) and either a PEFT adapter (<c>adapter_config.json</c> +
/// <c>adapter_model.safetensors</c>, with the head as a module to save, loadable by PEFT onto
/// <c>BertForSequenceClassification</c>-style names) or, for a head-only classifier, <c>classifier.safetensors</c>.
/// <code>
/// var classifier = TextClassifier.CreateOnMiniLm(loraConfig, classes: 2, maxTokens: 128, seed: 1);
/// // ... train classifier.Trainable on classifier.Logits(batch) ...
/// classifier.Save("spam-lora");
/// var p = TextClassifier.Load("spam-lora").Probabilities(["Cheap meds, click now"]); // [1, 2]
/// </code>
/// </summary>
public sealed class TextClassifier
{
    /// <summary>The file that marks a folder as a saved classifier.</summary>
    public const string ManifestFileName = "text_classifier.json";

    /// <summary>The head's weights of a head-only classifier.</summary>
    public const string HeadFileName = "classifier.safetensors";

    const string BaseModelName = "sentence-transformers/all-MiniLM-L6-v2";

    TextClassifier(BertClassifier classifier, PeftModel? peft, WordPieceTokenizer tokenizer, int maxTokens)
    {
        Classifier = classifier; Peft = peft; Tokenizer = tokenizer; MaxTokens = maxTokens;
    }

    /// <summary>
    /// A new classifier on MiniLM: the encoder frozen, a random head (seeded by <paramref name="seed"/>), and
    /// <paramref name="adapter"/> applied (its <c>ModulesToSave</c> gets the head), or only the head trainable when it is null.
    /// An adapter whose initialisation runs on data (<see cref="ICalibratedConfig"/>: CorDA, LoRA-GA) takes
    /// <paramref name="calibration"/>, batches of labelled texts whose cross-entropy the classifier computes (in
    /// evaluation mode, so that dropout does not enter the statistics); other adapters ignore it.
    /// </summary>
    /// <exception cref="ArgumentException">The adapter needs data and <paramref name="calibration"/> is null or empty.</exception>
    public static TextClassifier CreateOnMiniLm(PeftConfig? adapter, int classes, int maxTokens, ulong seed,
        IReadOnlyList<IReadOnlyList<(string Text, int Label)>>? calibration = null)
    {
        var embedder = SentenceEmbedder.LoadMiniLm();
        CheckMaxTokens(maxTokens, embedder.Bert.Config.MaxPositions);
        var classifier = new BertClassifier(embedder.Bert, classes, dropout: 0.1, new Generator(seed));
        PeftModel? peft = null;
        if (adapter is null)
            foreach (var (_, p) in embedder.Bert.NamedParameters()) p.RequiresGrad = false;
        else
        {
            bool training = classifier.Training;
            classifier.Eval();
            peft = PeftApi.Apply(classifier, adapter with { ModulesToSave = [.. adapter.ModulesToSave ?? [], "classifier"] },
                calibration: CalibrationFor(adapter, classifier, embedder.Tokenizer, maxTokens, calibration));
            classifier.Train(training);
        }
        return new TextClassifier(classifier, peft, embedder.Tokenizer, maxTokens);
    }

    static CalibrationData? CalibrationFor(PeftConfig adapter, BertClassifier classifier, WordPieceTokenizer tokenizer, int maxTokens,
        IReadOnlyList<IReadOnlyList<(string Text, int Label)>>? batches)
    {
        if (adapter is not ICalibratedConfig { CalibrationNeed: { } need }) return null;
        if (batches is null || batches.Count == 0) throw new ArgumentException($"TextClassifier: the adapter has {need}, which initialises from data: pass calibration batches");
        var encoded = batches.Select(b => (Batch: tokenizer.Encode(b.Select(e => e.Text).ToList(), maxTokens),
            Labels: Tensor.FromArray(b.Select(e => (long)e.Label).ToArray(), [b.Count]))).ToArray();
        return new CalibrationData(encoded.Length, i => Losses.CrossEntropy(classifier.Forward(encoded[i].Batch.Ids, encoded[i].Batch.PaddingMask), encoded[i].Labels));
    }

    /// <summary>The classifier (encoder and head; adapters, when any, sit inside it).</summary>
    public BertClassifier Classifier { get; }

    /// <summary>The adapter's model, or null for a head-only classifier.</summary>
    public PeftModel? Peft { get; }

    /// <summary>The module to train and to switch between training and evaluation: the adapter's model or the classifier.</summary>
    public Module Trainable => Peft is null ? Classifier : Peft;

    public WordPieceTokenizer Tokenizer { get; }

    /// <summary>Texts are cut to this many tokens ([CLS] and [SEP] included).</summary>
    public int MaxTokens { get; }

    /// <summary>The classes' count.</summary>
    public int Classes => Classifier.Classifier.OutFeatures;

    /// <summary>Token ids of <paramref name="texts"/>, cut to <see cref="MaxTokens"/>.</summary>
    public TokenBatch Tokenize(IReadOnlyList<string> texts) => Tokenizer.Encode(texts, MaxTokens);

    /// <summary>Logits [B, classes] of a tokenised batch (in the module's current mode).</summary>
    public Tensor Logits(TokenBatch batch) => Classifier.Forward(batch.Ids, batch.PaddingMask);

    /// <summary>Class probabilities [N, classes] of <paramref name="texts"/> in evaluation mode, without gradients.</summary>
    public Tensor Probabilities(IReadOnlyList<string> texts, int batchSize = 32)
    {
        if (batchSize < 1) throw new ArgumentException($"TextClassifier: batchSize must be positive, got {batchSize}");
        Trainable.Eval();
        var rows = new List<Tensor>();
        using (Autograd.Autograd.NoGrad())
            for (int start = 0; start < texts.Count; start += batchSize)
            {
                var chunk = texts.Skip(start).Take(batchSize).ToList();
                rows.Add(Logits(Tokenize(chunk)).Softmax(-1));
            }
        return rows.Count == 0 ? Tensor.Zeros([0, Classes]) : Tensor.Concat([.. rows], 0);
    }

    /// <summary>Writes the classifier to <paramref name="folder"/> (created; files of an earlier save are replaced).</summary>
    public void Save(string folder)
    {
        var manifest = new JsonObject
        {
            ["base_model"] = BaseModelName,
            ["classes"] = Classes,
            ["max_tokens"] = MaxTokens,
            ["head"] = Peft is null ? HeadFileName : "adapter",
        };
        // An adapter that moved a data-driven part of the base weight (CorDA, LoRA-GA) is written as the plain LoRA of
        // the original encoder, which loads without the data.
        var weights = Peft is not null ? AdapterFiles.Files(Peft, "default", convertToLora: Peft.NeedsDataToLoad("default"))
            : [PretrainedFile.Safetensors(HeadFileName, Classifier.Classifier.NamedParameters()
                .ToDictionary(p => "classifier." + p.Name, p => p.Parameter.Detach().Contiguous()))];
        // One atomic save: a reader sees the previous classifier or this one, never a mix.
        PretrainedFolder.Save(folder, [.. weights, PretrainedFile.Json(ManifestFileName, manifest)]);
    }

    /// <summary>Reads a classifier saved by <see cref="Save"/>, in evaluation mode.</summary>
    /// <exception cref="FileNotFoundException">The folder is not a saved classifier (no manifest) or lacks its weights.</exception>
    /// <exception cref="InvalidDataException">The manifest or the weights do not describe a MiniLM classifier (file and field named).</exception>
    public static TextClassifier Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"TextClassifier: no folder '{folder}'");
        PretrainedFolder.Recover(folder);
        var path = Path.Combine(folder, ManifestFileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"TextClassifier: '{folder}' has no {ManifestFileName}; it is not a classifier saved by engine classify --out", path);
        JsonObject manifest;
        try { manifest = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"TextClassifier: '{path}' is not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"TextClassifier: '{path}' is not valid JSON: {e.Message}", e); }
        string baseModel = Field<string>(manifest, "base_model", path), head = Field<string>(manifest, "head", path);
        int classes = Field<int>(manifest, "classes", path), maxTokens = Field<int>(manifest, "max_tokens", path);
        if (baseModel != BaseModelName) throw new InvalidDataException($"TextClassifier: '{path}' field 'base_model' is '{baseModel}'; the engine has {BaseModelName}");
        if (classes is < 2 or > 1_000_000) throw new InvalidDataException($"TextClassifier: '{path}' field 'classes' is {classes}; it must be in [2, 1000000]");

        var embedder = SentenceEmbedder.LoadMiniLm();
        if (maxTokens < 2 || maxTokens > embedder.Bert.Config.MaxPositions)
            throw new InvalidDataException($"TextClassifier: '{path}' field 'max_tokens' is {maxTokens}; it must be in [2, {embedder.Bert.Config.MaxPositions}]");
        var classifier = new BertClassifier(embedder.Bert, classes, dropout: 0.1);
        PeftModel? peft = null;
        if (head == "adapter") peft = PeftApi.FromPretrained(classifier, folder);
        else if (head == HeadFileName) LoadHead(classifier, Path.Combine(folder, HeadFileName));
        else throw new InvalidDataException($"TextClassifier: '{path}' field 'head' is '{head}'; expected 'adapter' or '{HeadFileName}'");
        var result = new TextClassifier(classifier, peft, embedder.Tokenizer, maxTokens);
        result.Trainable.Eval();
        return result;
    }

    static void LoadHead(BertClassifier classifier, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"TextClassifier: no head weights at '{path}'", path);
        var expected = classifier.Classifier.NamedParameters().ToDictionary(p => "classifier." + p.Name, p => p.Parameter.Shape);
        var state = Safetensors.Load(path);
        foreach (var (name, shape) in expected)
            if (!state.TryGetValue(name, out var t) || !t.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"TextClassifier: '{path}' needs '{name}' of shape {Shapes.Format(shape)}; it has {(t is null ? "none" : Shapes.Format(t.Shape))}");
        if (state.Count != expected.Count)
            throw new InvalidDataException($"TextClassifier: '{path}' has tensors other than the head's: {string.Join(", ", state.Keys.Except(expected.Keys))}");
        classifier.Classifier.LoadStateDict(state.ToDictionary(kv => kv.Key["classifier.".Length..], kv => kv.Value.To(DType.Float32)));
    }

    static T Field<T>(JsonObject json, string field, string path)
    {
        try { return json[field] is { } node ? node.GetValue<T>() : throw new InvalidDataException($"TextClassifier: '{path}' has no field '{field}'"); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"TextClassifier: '{path}' field '{field}' is not a {typeof(T).Name}: {e.Message}", e); }
    }

    static void CheckMaxTokens(int maxTokens, int limit)
    {
        if (maxTokens < 2 || maxTokens > limit) throw new ArgumentException($"TextClassifier: maxTokens must be in [2, {limit}], got {maxTokens}");
    }
}
