namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// Marks an ILGPU kernel entry point (a static method loaded with LoadAutoGroupedStreamKernel or
/// LoadStreamKernel). The PTX checker finds every marked method by reflection and compiles it for sm_80 / sm_90,
/// so a kernel that is not marked is a kernel that is not checked.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class KernelEntryAttribute : Attribute
{
    /// <summary>An entry point; for generic kernels, one attribute per instantiation, naming the type arguments.</summary>
    public KernelEntryAttribute(params Type[] typeArguments) => TypeArguments = typeArguments;

    /// <summary>Type arguments of a generic kernel (empty for non-generic kernels).</summary>
    public Type[] TypeArguments { get; }

    /// <summary>True for explicitly grouped kernels (shared memory, barriers), false for implicitly grouped ones.</summary>
    public bool ExplicitlyGrouped { get; init; }
}
