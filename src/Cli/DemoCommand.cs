using System.CommandLine;
using Engine.Autograd;

namespace Engine.Cli;

/// <summary><c>engine demo</c>: a short tour of tensors and autograd that runs in seconds.</summary>
static class DemoCommand
{
    public static Command Create()
    {
        var seed = new Option<ulong>("--seed") { Description = "seed of the random generator", DefaultValueFactory = _ => 0 };
        var command = new Command("demo", "a tour of the tensor API and autograd: fits a small linear model with gradient descent");
        command.Options.Add(seed);
        command.SetAction(result => Run(result.GetValue(seed)));
        return command;
    }

    static int Run(ulong seed)
    {
        Tensor.ManualSeed(seed);
        var a = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        Console.WriteLine($"a = {a}");
        Console.WriteLine($"a.T @ a = {a.T.MatMul(a)}");
        Console.WriteLine($"softmax(a, -1) = {a.Softmax(-1)}");
        Console.WriteLine($"a.Sum(0) = {a.Sum(0)}, a.Std() = {a.Std()}");

        // Fit y = x w + b to noisy data with plain gradient descent on the mean squared error.
        var trueW = Tensor.FromArray(new float[,] { { 2f }, { -3f } });
        var x = Tensor.Randn([256, 2]);
        var y = x.MatMul(trueW) + 0.5 + Tensor.Randn([256, 1], std: 0.1);
        var w = Tensor.Zeros(2, 1).RequireGrad();
        var b = Tensor.Zeros(1).RequireGrad();
        for (int step = 0; step <= 100; step++)
        {
            var loss = (x.MatMul(w) + b - y).Square().Mean();
            loss.Backward();
            using (Autograd.Autograd.NoGrad())
            {
                w = (w - w.Grad! * 0.1).Detach().RequireGrad();
                b = (b - b.Grad! * 0.1).Detach().RequireGrad();
            }
            if (step % 25 == 0) Console.WriteLine($"step {step,3}: loss {loss.Item():F5}");
        }
        Console.WriteLine($"learned w = {w.Detach()}, b = {b.Detach()} (true: [2, -3], 0.5)");
        return 0;
    }
}
