using System.Reflection;
using System.Text;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace LongLM.Kernels.Ilgpu;

/// <summary>One kernel to compile: a <see cref="KernelEntryAttribute"/> on a static method, generic ones instantiated.</summary>
/// <param name="Method">The kernel method (closed when the declaration is generic).</param>
/// <param name="ExplicitlyGrouped">True for explicitly grouped kernels.</param>
public sealed record PtxKernelEntry(MethodInfo Method, bool ExplicitlyGrouped)
{
    /// <summary><c>Class.Method</c>, or <c>Class.Method[T1,T2]</c> for a generic instantiation (also the .ptx file name).</summary>
    public string Name { get; } = PtxCompiler.KernelName(Method);

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>A kernel compiled to PTX.</summary>
/// <param name="Entry">The kernel.</param>
/// <param name="Ptx">The PTX assembly ILGPU generated.</param>
public sealed record PtxKernel(PtxKernelEntry Entry, string Ptx);

/// <summary>A kernel that ILGPU could not compile to PTX.</summary>
/// <param name="Entry">The kernel.</param>
/// <param name="Error">The exception (ILGPU's messages name the offending IL construct).</param>
public sealed record PtxCompileFailure(PtxKernelEntry Entry, Exception Error);

/// <summary>
/// Compiles ILGPU kernels to PTX offline: no CUDA driver, no GPU. A plain ILGPU <see cref="Context"/> with no
/// accelerator and a <see cref="PTXBackend"/> built directly for a target architecture and PTX ISA; each kernel
/// goes through <c>Backend.Compile(EntryPointDescription, KernelSpecialization.Empty)</c>, the same path
/// <c>CudaAccelerator</c> takes before it hands the PTX to the driver's JIT.
/// </summary>
public sealed class PtxCompiler : IDisposable
{
    private readonly Action<Context.Builder>? _configure;
    private Context _context;
    private PTXBackend _backend;

    /// <summary>Compiler for sm_80 (Ampere, the oldest GPU the runtime targets) / PTX ISA 7.8.</summary>
    public PtxCompiler() : this(CudaArchitecture.SM_80, CudaInstructionSet.ISA_78) { }

    /// <summary>Compiler for the given architecture and PTX ISA.</summary>
    /// <param name="architecture">Target GPU architecture (the PTX <c>.target</c>).</param>
    /// <param name="instructionSet">PTX ISA version (the PTX <c>.version</c>).</param>
    /// <param name="configure">Extra context settings (math mode, optimization level) to match the runtime's context.</param>
    public PtxCompiler(CudaArchitecture architecture, CudaInstructionSet instructionSet, Action<Context.Builder>? configure = null)
    {
        Architecture = architecture;
        InstructionSet = instructionSet;
        _configure = configure;
        (_context, _backend) = CreateBackend();
    }

    /// <summary>Target GPU architecture.</summary>
    public CudaArchitecture Architecture { get; }

    /// <summary>PTX ISA version.</summary>
    public CudaInstructionSet InstructionSet { get; }

    /// <summary>
    /// Every <see cref="KernelEntryAttribute"/> in <paramref name="assembly"/>, one entry per attribute (generic kernels
    /// closed over the attribute's type arguments), sorted by name. Misuse of the attribute (instance method, wrong
    /// number of type arguments, arguments that violate the constraints, duplicate names) throws.
    /// </summary>
    public static IReadOnlyList<PtxKernelEntry> FindEntries(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static |
                                 BindingFlags.Instance | BindingFlags.DeclaredOnly;
        var entries = new List<PtxKernelEntry>();
        foreach (var type in LoadableTypes(assembly))
        {
            foreach (var method in type.GetMethods(all))
            {
                foreach (var attribute in method.GetCustomAttributes<KernelEntryAttribute>(inherit: false))
                    entries.Add(new PtxKernelEntry(Instantiate(method, attribute.TypeArguments), attribute.ExplicitlyGrouped));
            }
        }
        entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        for (int i = 1; i < entries.Count; i++)
        {
            if (entries[i].Name == entries[i - 1].Name)
                throw new InvalidOperationException(
                    $"two [KernelEntry] kernels are both named {entries[i].Name} " +
                    $"({Describe(entries[i - 1].Method)} and {Describe(entries[i].Method)}); kernel names must be unique");
        }
        return entries;
    }

    /// <summary>Compiles one kernel; ILGPU's exceptions propagate (and the compiler stays usable).</summary>
    public PtxKernel Compile(PtxKernelEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var description = entry.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(entry.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(entry.Method);
        CompiledKernel compiled;
        try
        {
            compiled = _backend.Compile(description, KernelSpecialization.Empty);
        }
        catch
        {
            // A failed compile leaves half-built methods in the context's IR, which then breaks every later compile
            // (NullReferenceException in dead-code elimination): start over with a fresh context.
            _backend.Dispose();
            _context.Dispose();
            (_context, _backend) = CreateBackend();
            throw;
        }
        var ptx = compiled as PTXCompiledKernel
            ?? throw new InvalidOperationException($"{entry.Name}: the PTX backend returned {compiled.GetType().Name}");
        return new PtxKernel(entry, ptx.PTXAssembly);
    }

    /// <summary>Compiles every kernel in <paramref name="entries"/>, collecting failures instead of stopping at the first.</summary>
    public (IReadOnlyList<PtxKernel> Compiled, IReadOnlyList<PtxCompileFailure> Failed) CompileAll(IEnumerable<PtxKernelEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var compiled = new List<PtxKernel>();
        var failed = new List<PtxCompileFailure>();
        foreach (var entry in entries)
        {
            try
            {
                compiled.Add(Compile(entry));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failed.Add(new PtxCompileFailure(entry, e));
            }
        }
        return (compiled, failed);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _backend.Dispose();
        _context.Dispose();
    }

    private (Context, PTXBackend) CreateBackend()
    {
        // No accelerators are enabled, so nothing probes for a CUDA driver. Every context builder registers the PTX
        // intrinsics; EnableAlgorithms adds ILGPU.Algorithms' (warp and group reductions, XMath).
        var context = Context.Create(builder =>
        {
            builder.Optimize(OptimizationLevel.O1).EnableAlgorithms();
            _configure?.Invoke(builder);
        });
        var backend = new PTXBackend(context, new CudaCapabilityContext(Architecture), Architecture, InstructionSet, nvvmAPI: null);
        return (context, backend);
    }

    /// <summary><c>Class.Method</c> or <c>Class.Method[T1,T2]</c>; nested classes as <c>Outer+Inner</c>.</summary>
    public static string KernelName(MethodInfo method)
    {
        ArgumentNullException.ThrowIfNull(method);
        var name = new StringBuilder();
        name.Append(method.DeclaringType is { } type ? TypeName(type, qualifyNested: true) : "<global>");
        name.Append('.').Append(method.Name);
        if (method.IsGenericMethod)
            name.Append('[').AppendJoin(',', method.GetGenericArguments().Select(t => TypeName(t, qualifyNested: false))).Append(']');
        return name.ToString();
    }

    private static MethodInfo Instantiate(MethodInfo method, Type[] typeArguments)
    {
        if (!method.IsStatic)
            throw new InvalidOperationException($"[KernelEntry] {Describe(method)} is not static; ILGPU kernels must be static methods");
        int arity = method.IsGenericMethodDefinition ? method.GetGenericArguments().Length : 0;
        if (typeArguments.Length != arity)
            throw new InvalidOperationException(
                $"[KernelEntry] on {Describe(method)} names {typeArguments.Length} type argument(s) but the method takes {arity}" +
                (arity > 0 ? "; add one [KernelEntry(typeof(...))] per instantiation" : ""));
        if (arity == 0)
            return method;
        try
        {
            return method.MakeGenericMethod(typeArguments);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException(
                $"[KernelEntry({string.Join(", ", typeArguments.Select(t => $"typeof({t.Name})"))})] on {Describe(method)}: {e.Message}", e);
        }
    }

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            throw new InvalidOperationException(
                $"cannot load the types of {assembly.GetName().Name}: " +
                string.Join("; ", e.LoaderExceptions.Where(x => x is not null).Select(x => x!.Message).Distinct()), e);
        }
    }

    private static string Describe(MethodInfo method) => $"{method.DeclaringType?.FullName}.{method.Name}";

    private static string TypeName(Type type, bool qualifyNested)
    {
        string name = type.Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        if (tick >= 0)
            name = name[..tick];
        if (type.IsGenericType && !type.IsGenericTypeDefinition)
            name += "[" + string.Join(",", type.GetGenericArguments().Select(t => TypeName(t, qualifyNested: false))) + "]";
        if (qualifyNested && type.IsNested && type.DeclaringType is { } outer)
            name = TypeName(outer, qualifyNested: true) + "+" + name;
        return name;
    }
}
