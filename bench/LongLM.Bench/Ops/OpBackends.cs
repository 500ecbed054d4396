using LongLM.Kernels;
using LongLM.Models;

namespace LongLM.Bench.Ops;

/// <summary>Which backends the op suites run on: <c>cpu</c>, and <c>cuda</c> when a GPU answers; LONGLM_BENCH_BACKENDS overrides.</summary>
public static class OpBackends
{
    /// <summary>Environment variable with a comma list of backend names (e.g. "cpu,ilgpu-cpu").</summary>
    public const string Variable = "LONGLM_BENCH_BACKENDS";

    /// <summary>The backends to measure.</summary>
    public static IEnumerable<string> Available()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } list)
            return list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        LongLM.Cuda.CudaBackends.Register();
        var names = new List<string> { "cpu" };
        try
        {
            using var cuda = Backends.Create("cuda");
            names.Add("cuda");
        }
        catch (Exception e) when (e is BackendUnavailableException or Runtime.LongLMException)
        {
            // No GPU here: the suites run on the CPU only.
        }
        return names;
    }
}
