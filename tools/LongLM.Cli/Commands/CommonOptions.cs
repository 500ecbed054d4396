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

    /// <summary>--threads N: the cpu backend's worker threads (range checked when the backend is made).</summary>
    public static Option<int?> Threads() => new("--threads", "-t")
    {
        Description = $"Threads per op on the cpu backend, 1 to {Kernels.Cpu.CpuBackend.MaxThreads} (default: every core); results are bit-identical for any count",
    };

    /// <summary>--timings: llama.cpp-style performance lines on stderr.</summary>
    public static Option<bool> Timings() => new("--timings") { Description = "Print load, prompt-eval and eval times and speeds to stderr (as llama.cpp's llama_perf_context_print)" };

    /// <summary>--prefill-chunk N: tokens per internal pass through the layers (memory only, never a number).</summary>
    public static Option<int> PrefillChunk() => new("--prefill-chunk")
    {
        Description = "Tokens per internal pass through the layers: bounds activation memory, never changes a result",
        DefaultValueFactory = _ => Runtime.Inference.SequenceState.DefaultPrefillChunk,
    };

    /// <summary>--check-weights (ModelOptions.CheckWeights).</summary>
    public static Option<bool> CheckWeights() => new("--check-weights") { Description = "Scan every weight for NaN and infinity before running (one read of the whole checkpoint)" };

    /// <summary>--json.</summary>
    public static Option<bool> Json(string description = "Print JSON") => new("--json") { Description = description };
}
