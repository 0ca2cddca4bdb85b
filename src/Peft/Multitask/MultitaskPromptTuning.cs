using Engine.Peft.Prompt;
using Engine.Nn.Checkpoints;

namespace Engine.Peft.Multitask;

/// <summary>
/// Multitask prompt tuning's model-level part (PEFT's <c>MultitaskPromptEmbedding</c>, multitask_prompt_tuning/model.py):
/// the shared prompt P [n, d] (<c>prompt_embeddings</c>), the task factors u [T, n, R] (<c>prefix_task_cols</c>) and
/// v [T, R, d] (<c>prefix_task_rows</c>). Example b of task t gets the prompt P ⊙ (u_t v_t), prepended to its token
/// embeddings (<see cref="IPromptableModel.ForwardWithPrompt"/>), or placed at the start of a decoding cache; the tasks
/// come from <see cref="TaskIds"/> when the forward runs or the cache is made.
/// </summary>
public sealed class MultitaskPromptTuning : AdapterModelPart, IInputAdapter, ISharedTensorOwner
{
    readonly MultitaskPromptTuningConfig _config;

    /// <summary>Creates P, u and v as the config says (a file's tensors replace them when loading).</summary>
    /// <exception cref="ArgumentException">TEXT without token ids, or a source file that lacks a tensor or has other shapes.</exception>
    /// <exception cref="NotSupportedException">A source file that is not safetensors (PEFT also reads torch pickles).</exception>
    public MultitaskPromptTuning(AdapterModelPartContext context) : base(context)
    {
        var c = _config = (MultitaskPromptTuningConfig)context.Config;
        var table = Model(context).TokenEmbedding.Weight.Detach();
        int n = c.NumVirtualTokens * c.NumTransformerSubmodules, d = table.Size(1), vocab = table.Size(0);
        var dtype = table.DType;
        var g = context.CreateGenerator();
        var p = Tensor.Randn([n, d], 0, 1, dtype, g);
        var cols = Tensor.Randn([c.NumTasks, n, c.NumRanks], 0, 0.02, dtype, g);
        var rows = Tensor.Randn([c.NumTasks, c.NumRanks, d], 0, 0.02, dtype, g);
        if (!context.FromFile && c.PromptTuningInit == "TEXT")
        {
            if (c.InitTokenIds is not { Count: > 0 } ids) throw new ArgumentException("MultitaskPromptTuningConfig: TEXT initialisation needs InitTokenIds (the tokens of prompt_tuning_init_text)");
            if (ids.Any(i => i < 0 || i >= vocab)) throw new ArgumentException($"MultitaskPromptTuningConfig: InitTokenIds must lie in [0, {vocab})");
            p = table.IndexSelect(0, Tensor.FromArray(Enumerable.Range(0, n).Select(i => ids[i % ids.Count]).ToArray())).Clone();
        }
        else if (!context.FromFile && c.FromSource) (p, cols, rows) = FromSource(c, p, cols, rows);
        RegisterParameter("weight", p);
        RegisterParameter("prefix_task_cols", cols);
        RegisterParameter("prefix_task_rows", rows);
    }

    // PEFT reads the source adapter's prompt_embeddings (and for AVERAGE/EXACT its task factors, averaged over the
    // source tasks or those of prompt_tuning_init_task). PEFT then loads the one resulting task strictly, so it only
    // works for num_tasks = 1; the engine gives that task's factors to every target task (the same for num_tasks = 1).
    static (Tensor P, Tensor Cols, Tensor Rows) FromSource(MultitaskPromptTuningConfig c, Tensor p, Tensor cols, Tensor rows)
    {
        string path = c.PromptTuningInitStateDictPath
            ?? throw new ArgumentException($"MultitaskPromptTuningConfig: prompt_tuning_init {c.PromptTuningInit} needs prompt_tuning_init_state_dict_path");
        if (!path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new NotSupportedException($"MultitaskPromptTuningConfig: prompt_tuning_init_state_dict_path '{path}' is not a .safetensors file; the engine does not read torch pickles");
        var source = Safetensors.Load(path);
        Tensor Get(string key, int[] trailing)
        {
            if (!source.TryGetValue(key, out var t)) throw new ArgumentException($"MultitaskPromptTuningConfig: the source file '{path}' has no '{key}'");
            if (!t.Shape.AsSpan(t.Rank - trailing.Length).SequenceEqual(trailing) || t.Rank != trailing.Length + (key == "prompt_embeddings" ? 0 : 1))
                throw new ArgumentException($"MultitaskPromptTuningConfig: the source file's '{key}' is {Shapes.Format(t.Shape)}; this adapter needs [..{string.Join(", ", trailing)}]");
            return t.To(p.DType);
        }
        var shared = Get("prompt_embeddings", p.Shape);
        if (c.PromptTuningInit == "ONLY_SOURCE_SHARED") return (shared, cols, rows);
        var sourceCols = Get("prefix_task_cols", cols.Shape[1..]);
        var sourceRows = Get("prefix_task_rows", rows.Shape[1..]);
        Tensor One(Tensor t)
        {
            if (c.PromptTuningInit == "AVERAGE_SOURCE_TASKS") return t.Mean(0, keepDim: true);
            if (c.PromptTuningInitTask >= t.Size(0))
                throw new ArgumentException($"MultitaskPromptTuningConfig: prompt_tuning_init_task {c.PromptTuningInitTask} is not among the source file's {t.Size(0)} tasks");
            return t.Narrow(0, c.PromptTuningInitTask, 1);
        }
        Tensor Tasks(Tensor one) => one.Expand([c.NumTasks, .. one.Shape[1..]]).Contiguous();
        return (shared, Tasks(One(sourceCols)), Tasks(One(sourceRows)));
    }

    /// <summary>The tensors under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (MultitaskPromptTuningConfig)context.Config;
        int n = c.NumVirtualTokens * c.NumTransformerSubmodules, d = Model(context).TokenEmbedding.Weight.Size(1);
        return [new("prompt_embeddings", [n, d]), new("prefix_task_cols", [c.NumTasks, n, c.NumRanks]), new("prefix_task_rows", [c.NumTasks, c.NumRanks, d])];
    }

    static IPromptableModel Model(AdapterModelPartContext context) => context.Model.Model as IPromptableModel
        ?? throw new NotSupportedException($"MultitaskPromptTuning: multitask prompt tuning needs a model that implements IPromptableModel; {context.Model.Model.GetType().Name} does not");

    /// <summary>P [n, d].</summary>
    public Tensor Embeddings => GetParameter("weight");

    /// <summary>u [T, n, R].</summary>
    public Tensor TaskCols => GetParameter("prefix_task_cols");

    /// <summary>v [T, R, d].</summary>
    public Tensor TaskRows => GetParameter("prefix_task_rows");

    /// <inheritdoc/>
    public int VirtualTokens => Embeddings.Size(0);

    /// <summary>The prompts [B, n, d] of examples with tasks <paramref name="taskIds"/>: P ⊙ (u_t v_t) for each.</summary>
    public Tensor Prompts(IReadOnlyList<int> taskIds)
    {
        var index = Tensor.FromArray(taskIds.Select(t => (long)t).ToArray()).To(Embeddings.Device);
        var factor = TaskCols.IndexSelect(0, index).MatMul(TaskRows.IndexSelect(0, index));
        return Embeddings.Unsqueeze(0) * factor;
    }

    Tensor Batched(int batch) => Prompts(TaskIds.Resolve(_config, "Multitask prompt tuning", AdapterName, batch));

    /// <inheritdoc/>
    public Tensor Forward(PeftModel model, Tensor input) => ((IPromptableModel)model.Model).ForwardWithPrompt(input, Batched(input.Size(0)));

    /// <inheritdoc/>
    public KvCache CreateCache(PeftModel model, int batch) => VirtualTokenInput.StartCache(model, Batched(batch), "MultitaskPromptTuning");

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        yield return new("prompt_embeddings", Embeddings, true, true);
        yield return new("prefix_task_cols", TaskCols, true, true);
        yield return new("prefix_task_rows", TaskRows, true, true);
    }
}
