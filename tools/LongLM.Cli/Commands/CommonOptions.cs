using System.CommandLine;
using LongLM.Models;

namespace LongLM.Cli.Commands;

/// <summary>Options shared by commands that load a model.</summary>
public static class CommonOptions
{
    /// <summary>--model DIR.</summary>
    public static Option<string> Model() => new("--model", "-m") { Description = "Model folder in Hugging Face layout (config.json, *.safetensors, tokenizer)", Required = true };

    /// <summary>--backend NAME.</summary>
    public static Option<string> Backend()
    {
        var option = new Option<string>("--backend") { Description = "Compute backend", DefaultValueFactory = _ => "cpu" };
        option.AcceptOnlyFromAmong([.. Backends.Names]);
        return option;
    }

    /// <summary>--check-weights (ModelOptions.CheckWeights).</summary>
    public static Option<bool> CheckWeights() => new("--check-weights") { Description = "Scan every weight for NaN and infinity before running (one read of the whole checkpoint)" };

    /// <summary>--json.</summary>
    public static Option<bool> Json(string description = "Print JSON") => new("--json") { Description = description };
}
