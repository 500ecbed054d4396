using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Runtime;

namespace LongLM.Models;

/// <summary>Creates a backend by its command-line name.</summary>
public static class Backends
{
    /// <summary>Names accepted by <see cref="Create"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cpu"];

    /// <summary>"cpu" (default). Unknown names are a clear error.</summary>
    public static IBackend Create(string name) => name switch
    {
        "cpu" => new CpuBackend(),
        _ => throw new LongLMException($"unknown backend '{name}' (available: {string.Join(", ", Names)})"),
    };
}
