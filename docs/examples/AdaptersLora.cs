// The first block of docs/adapters.md, run by AdaptersDocTests from a folder holding tests/golden/gpt2-tiny.
// doc-begin: adapters-lora
using Engine.Peft; using Engine.Peft.LowRank;
// doc-end: adapters-lora
using Engine;
using Engine.Nn;

namespace DocExamples;

public static class AdaptersLora
{
    /// <summary>LoRA on a GPT-2 folder: trains 100 steps, saves the adapter to adapters/names, merges.</summary>
    public static (TrainingResult Result, Tensor X, Tensor Y, Gpt Merged) Run()
    {
        // doc-begin: adapters-lora

        var gpt = Gpt2Checkpoint.Load("tests/golden/gpt2-tiny");   // a Hugging Face GPT-2 folder (here the repository's tiny test model)
        var peft = Peft.Apply(gpt, new LoraConfig { R = 8, LoraAlpha = 16, TargetModules = ["c_attn"] });
        peft.PrintTrainableParameters();           // trainable params: 2,048 || all params: ... || trainable%: ...
        var opt = new AdamW(LoraPlus.ParamGroups(peft, lr: 2e-4, ratio: 16));
        var ids = Tensor.FromArray(new long[] { 5, 9, 2, 7, 1, 3, 8, 4, 6, 0 }, [1, 10]);
        var (x, y) = (ids.Narrow(1, 0, 9), ids.Narrow(1, 1, 9));   // inputs and next-token targets
        var result = new Trainer(peft, opt, new TrainerOptions(Steps: 100)).Run(step => Losses.CrossEntropy(peft.Forward(x), y));
        peft.SavePretrained("adapters/names");      // adapter_config.json + adapter_model.safetensors, PEFT's layout
        var merged = peft.MergeAndUnload();          // a plain Gpt computing the adapted function
        // doc-end: adapters-lora
        return (result, x, y, merged);
    }
}
