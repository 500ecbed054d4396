using System.Reflection;
using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Runtime;

// The namespace stays LongLM.Models (where this class lived before it moved down to LongLM.Runtime, so that the
// LongLM.Cuda package can register into it without referencing the model families): `using LongLM.Models;`
// with `Backends.Create(...)` and `LanguageModel.Load(dir, "cpu")` keeps compiling unchanged.
namespace LongLM.Models;

/// <summary>
/// Creates a backend by its command-line name. <c>cpu</c> (managed SIMD) is built in; <c>cuda</c> (ILGPU kernels
/// on the first NVIDIA GPU) and <c>ilgpu-cpu</c> (the same kernels on ILGPU's CPU accelerator) come with the
/// LongLM.Cuda package, which this registry finds by itself when its assembly is deployed next to the app.
/// </summary>
/// <remarks>
/// Why discovery rather than only an explicit registration call: backend names are strings chosen at run time
/// (a <c>--backend</c> flag, a config file), and before the split <c>LanguageModel.Load(dir, "cuda")</c> just
/// worked. Looking for the LongLM.Cuda assembly by name the first time an unregistered name (or
/// <see cref="Names"/>) is asked for keeps that: adding the package is all an app does, and an app without it gets
/// a <see cref="LongLMException"/> that says to add it. The cost is one failed assembly probe per process when
/// LongLM.Cuda is absent. Trimmed or NativeAOT apps, where a by-name probe cannot see an assembly nothing roots,
/// call <c>LongLM.Cuda.CudaBackends.Register()</c> at start-up instead (idempotent; it roots the backend too).
/// </remarks>
public static class Backends
{
    /// <summary>The assembly (and package) that holds the ILGPU backends.</summary>
    public const string CudaAssemblyName = "LongLM.Cuda";

    // The entry point LongLM.Cuda exposes; called by reflection when the assembly is found.
    private const string CudaRegistrarType = "LongLM.Cuda.CudaBackends";
    private const string CudaRegistrarMethod = "Register";

    // Names that LongLM.Cuda provides, for the "add the package" error when it is absent.
    private static readonly string[] CudaNames = ["cuda", "ilgpu-cpu"];

    private static readonly Lock Gate = new();
    private static readonly List<KeyValuePair<string, Func<IBackend>>> Factories = [new("cpu", () => new CpuBackend())];
    private static string[] _names = ["cpu"];

    private static readonly object ProbeGate = new();
    private static bool _probeStarted;           // under ProbeGate
    private static volatile bool _probeDone;
    private static volatile string? _probeError;

    /// <summary>
    /// Names accepted by <see cref="Create"/>, in registration order: <c>cpu</c>, then <c>cuda</c> and
    /// <c>ilgpu-cpu</c> when LongLM.Cuda is present, then any others registered with <see cref="Register"/>.
    /// </summary>
    public static IReadOnlyList<string> Names
    {
        get
        {
            ProbeOptionalBackends();
            return Volatile.Read(ref _names);
        }
    }

    /// <summary>
    /// Adds (or replaces) the backend called <paramref name="name"/>; <paramref name="create"/> returns a new
    /// backend each call, which the caller of <see cref="Create"/> owns. May throw
    /// <see cref="BackendUnavailableException"/> when the backend cannot run on this machine.
    /// </summary>
    public static void Register(string name, Func<IBackend> create)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(create);
        lock (Gate)
        {
            int index = Factories.FindIndex(f => f.Key == name);
            if (index >= 0) Factories[index] = new(name, create);
            else Factories.Add(new(name, create));
            Volatile.Write(ref _names, [.. Factories.Select(f => f.Key)]);
        }
    }

    /// <summary>
    /// A new backend by name: "cpu" (default, managed SIMD), "cuda" (ILGPU kernels on the first NVIDIA GPU) or
    /// "ilgpu-cpu" (the same kernels on ILGPU's CPU accelerator); the last two need the LongLM.Cuda package.
    /// Unknown names, "cuda" without LongLM.Cuda, and "cuda" without a usable GPU are a one-line
    /// <see cref="LongLMException"/>.
    /// </summary>
    public static IBackend Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var create = Find(name);
        if (create is null)
        {
            ProbeOptionalBackends();
            create = Find(name);
        }
        if (create is null)
        {
            var available = string.Join(", ", Names);
            if (CudaNames.Contains(name) && _probeError is { } error)
                throw new LongLMException($"backend '{name}': {error}");
            if (CudaNames.Contains(name))
                throw new LongLMException(
                    $"backend '{name}' is in the LongLM.Cuda package, which this app does not have: add it (dotnet add package LongLM.Cuda) or use --backend cpu (available: {available})");
            throw new LongLMException($"unknown backend '{name}' (available: {available})");
        }
        try
        {
            return create();
        }
        catch (BackendUnavailableException e)
        {
            // Kernels cannot see LongLMException (it lives above them); hosts map this one to their usage error.
            throw new LongLMException(e.Message, inner: e);
        }
    }

    private static Func<IBackend>? Find(string name)
    {
        lock (Gate)
        {
            foreach (var (key, create) in Factories)
                if (key == name) return create;
            return null;
        }
    }

    // Looks once per process for LongLM.Cuda beside the app and lets it register its backends. Other threads wait
    // for the probe to finish; a re-entrant call (Register asking for Names) returns at once.
    private static void ProbeOptionalBackends()
    {
        if (_probeDone) return;
        lock (ProbeGate)
        {
            if (_probeStarted) return;
            _probeStarted = true;
            try
            {
                _probeError = ProbeCuda();
            }
            finally
            {
                _probeDone = true;
            }
        }
    }

    // Null when LongLM.Cuda registered its backends or is simply absent; else why it could not.
    private static string? ProbeCuda()
    {
        Assembly assembly;
        try
        {
            assembly = Assembly.Load(new AssemblyName(CudaAssemblyName));
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            return null; // not deployed: "cuda" stays unregistered and Create says which package to add
        }
        var register = assembly.GetType(CudaRegistrarType)?.GetMethod(CudaRegistrarMethod, BindingFlags.Public | BindingFlags.Static, Type.EmptyTypes);
        if (register is null)
            return $"{CudaAssemblyName} {assembly.GetName().Version} has no {CudaRegistrarType}.{CudaRegistrarMethod}(): its version does not match LongLM's";
        try
        {
            register.Invoke(null, null);
            return null;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            return $"{CudaAssemblyName} could not register its backends ({e.InnerException.GetType().Name}: {e.InnerException.Message})";
        }
    }
}
