using System.CommandLine;
using Engine.Nn;
using Engine.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>--adapter &lt;dir&gt;</c>, repeatable: adapters in Hugging Face PEFT's layout (adapter_config.json +
/// adapter_model.safetensors) of any registered method, loaded onto the model and all active at once, so an adapter
/// can be checked (<c>engine logits</c>) and used (<c>engine generate</c>) from the command line.
/// </summary>
static class AdapterOption
{
    /// <summary>The option, for commands that run a model.</summary>
    public static Option<string[]> Create()
    {
        var option = new Option<string[]>("--adapter")
        {
            Description = "a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) to apply; repeat to apply several at once",
            Arity = ArgumentArity.OneOrMore,
        };
        // An empty value (an unset shell variable) would otherwise run the model without the adapter the user meant.
        option.Validators.Add(r =>
        {
            if ((r.GetValueOrDefault<string[]>() ?? []).Any(string.IsNullOrWhiteSpace)) r.AddError("--adapter: an empty folder name was given");
        });
        return option;
    }

    /// <summary>Loads <paramref name="folders"/> onto <paramref name="model"/> (changed in place); null without adapters.</summary>
    public static PeftModel<Gpt>? Apply(Gpt model, string[]? folders)
    {
        if (folders is not { Length: > 0 }) return null;
        var peft = new PeftModel<Gpt>(model);
        for (int i = 0; i < folders.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(folders[i])) throw new ArgumentException("--adapter: an empty folder name was given");
            if (!Directory.Exists(folders[i])) throw new DirectoryNotFoundException($"--adapter: no adapter folder at '{folders[i]}'");
            try { peft.LoadAdapter(folders[i], i == 0 ? "default" : $"adapter_{i}"); }
            catch (NotSupportedException e) { throw new ArgumentException($"--adapter '{folders[i]}': {e.Message}", e); }
        }
        if (peft.AdapterNames.Count(n => peft.ModelPart(n) is IInputAdapter) > 1)
            throw new ArgumentException("--adapter: at most one input-side adapter (prompt or prefix tuning) can be applied at a time");
        peft.SetAdapter([.. peft.AdapterNames]);
        peft.Eval();
        return peft;
    }

    /// <summary>The KV cache that an input-side adapter starts generation with, or null.</summary>
    public static KvCache? StartCache(PeftModel? peft, int batch) => peft?.ActiveInputAdapter?.CreateCache(peft, batch);
}
