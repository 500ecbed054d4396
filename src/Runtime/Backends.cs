using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Runtime;

namespace LongLM.Models;

/// <summary>Creates a backend by its command-line name.</summary>
public static class Backends
{
    /// <summary>Names accepted by <see cref="Create"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cpu"];

    /// <summary>
    /// "cpu" (default, managed SIMD), "cuda" (ILGPU kernels on the first NVIDIA GPU) or "ilgpu-cpu" (the same
    /// kernels on ILGPU's CPU accelerator). Unknown names, and "cuda" without a usable GPU, are a clear error.
    /// </summary>
    public static IBackend Create(string name)
    {
        try
        {
            return name switch
            {
                "cpu" => new CpuBackend(),
                _ => throw new LongLMException($"unknown backend '{name}' (available: {string.Join(", ", Names)})"),
            };
        }
        catch (BackendUnavailableException e)
        {
            // Kernels cannot see LongLMException (it lives above them); hosts map this one to their usage error.
            throw new LongLMException(e.Message, inner: e);
        }
    }
}
