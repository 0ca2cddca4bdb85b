using System.CommandLine;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>--optimizer</c>: one of <see cref="OptimizerPresets.Names"/> (default adamw), checked while the command line is
/// parsed, so an unknown name is refused in one line with exit code 2 before any work starts.
/// </summary>
static class OptimizerOption
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--optimizer")
        {
            Description = $"optimiser with its paper defaults: {string.Join(", ", OptimizerPresets.Names)}",
            DefaultValueFactory = _ => "adamw",
        };
        option.Validators.Add(r =>
        {
            string name = r.GetValueOrDefault<string>();
            if (!OptimizerPresets.Names.Contains(name, StringComparer.OrdinalIgnoreCase))
                r.AddError($"--optimizer: unknown optimizer '{name}'; expected one of: {string.Join(", ", OptimizerPresets.Names)}");
        });
        return option;
    }
}
