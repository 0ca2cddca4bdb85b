using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

// ONNX Runtime on an ONNX BERT: sentences/s of mean-pooled, normalised embeddings at the given batch sizes and length,
// with the given intra-op threads. Token ids are the bench's (seeded, [CLS] ... [SEP]), as the engine's side uses.
// usage: Engine.Bench.Onnx <model.onnx> <threads> <length> <seconds per figure> <batch>...
// prints one line per batch: "batch <b> sentences_per_s <x>", then "load_ms <x>".
if (args.Length < 5) { Console.Error.WriteLine("usage: Engine.Bench.Onnx <model.onnx> <threads> <length> <seconds> <batch>..."); return 2; }
string path = args[0];
int threads = int.Parse(args[1]), length = int.Parse(args[2]);
double seconds = double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
var clock = Stopwatch.StartNew();
using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
using var session = new InferenceSession(path, options);
double loadMs = clock.Elapsed.TotalMilliseconds;

foreach (var batchText in args[4..])
{
    int batch = int.Parse(batchText);
    var ids = new long[batch * length];
    var random = new Random(7);
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < length; t++)
            ids[b * length + t] = t == 0 ? 101 : t == length - 1 ? 102 : random.Next(1000, 30000);
    var inputs = new List<NamedOnnxValue>
    {
        NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [batch, length])),
        NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, batch * length).ToArray(), [batch, length])),
        NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[batch * length], [batch, length])),
    };
    float[] Embed()
    {
        using var results = session.Run(inputs);
        var hidden = results.First(r => r.Name == "last_hidden_state").AsTensor<float>();
        int width = hidden.Dimensions[2];
        var pooled = new float[batch * width];
        for (int b = 0; b < batch; b++)
        {
            double norm = 0;
            for (int h = 0; h < width; h++)
            {
                float sum = 0;
                for (int t = 0; t < length; t++) sum += hidden[b, t, h];
                pooled[b * width + h] = sum / length;
                norm += pooled[b * width + h] * (double)pooled[b * width + h];
            }
            for (int h = 0; h < width; h++) pooled[b * width + h] /= (float)Math.Max(Math.Sqrt(norm), 1e-12);
        }
        return pooled;
    }
    Embed(); Embed();
    int runs = 0;
    clock.Restart();
    while (clock.Elapsed.TotalSeconds < seconds || runs < 2) { Embed(); runs++; }
    Console.WriteLine($"batch {batch} sentences_per_s {batch * runs / clock.Elapsed.TotalSeconds:F2}");
}
Console.WriteLine($"load_ms {loadMs:F0}");
return 0;
