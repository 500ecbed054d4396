using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Cli;

/// <summary>A loaded model and the backend the CLI created for it (the model does not own it): disposing releases both.</summary>
public sealed class LoadedModel(LanguageModel model, IBackend backend) : IDisposable
{
    /// <summary>The model.</summary>
    public LanguageModel Model { get; } = model;

    /// <summary>The backend it runs on.</summary>
    public IBackend Backend { get; } = backend;

    /// <summary>Releases the model, then its backend.</summary>
    public void Dispose()
    {
        Model.Dispose();
        Backend.Dispose();
    }
}

/// <summary>How every command loads its model: the backend made here (--threads), the library's warnings to stderr, once each.</summary>
public static class ModelLoading
{
    /// <summary>
    /// The backend named <paramref name="backend"/>; <paramref name="threads"/> (--threads) limits the cpu backend's
    /// workers and is refused for any other backend (a usage error).
    /// </summary>
    public static IBackend CreateBackend(string backend, int? threads)
    {
        if (threads is int n)
        {
            if (backend != "cpu") throw new LongLMException($"--threads applies to the cpu backend only, not --backend {backend}");
            if (n is < 1 or > CpuBackend.MaxThreads) throw new LongLMException($"--threads must be in [1, {CpuBackend.MaxThreads}], got {n}");
            return new CpuBackend(n);
        }
        return Backends.Create(backend);
    }

    /// <summary>
    /// Creates the backend, loads <paramref name="directory"/> on it and routes the model's warnings (vanilla attention
    /// past its context) to stderr. With --verbose, says which backend runs (and on how many threads). With
    /// <paramref name="profile"/> the backend is wrapped in a <see cref="Kernels.Profiling.ProfilingBackend"/> (bench --profile).
    /// </summary>
    public static LoadedModel LoadModel(this CliIO io, string directory, string backend, ModelOptions options, int? threads = null, bool profile = false)
    {
        IBackend device = CreateBackend(backend, threads);
        if (profile) device = new Kernels.Profiling.ProfilingBackend(device);
        LanguageModel lm;
        try
        {
            lm = LanguageModel.Load(directory, device, options);
        }
        catch
        {
            device.Dispose();
            throw;
        }
        lm.Model.Warning += message => io.Err.WriteLine("longlm: " + message);
        if (io.IsVerbose)
            io.Err.WriteLine(lm.Model.Backend is CpuBackend cpu ? $"longlm: backend cpu, threads {cpu.Threads}" : $"longlm: backend {lm.Model.Backend.Name}");
        return new LoadedModel(lm, device);
    }
}
