using System.Reflection;
using LongLM.Kernels.Ilgpu;

namespace LongLM.Tests.Kernels;

/// <summary>One ILGPU context and PTX backend (sm_80, ISA 7.8) shared by the PTX compile tests.</summary>
public sealed class PtxCompilerFixture : IDisposable
{
    public PtxCompiler Compiler { get; } = new();

    public void Dispose() => Compiler.Dispose();
}

/// <summary>
/// Offline PTX compile of every [KernelEntry] kernel, no GPU or driver: the kernels of LongLM.Kernels and the samples in
/// <see cref="PtxSampleKernels"/>. (tools/ptx/check.sh additionally assembles the PTX with ptxas for sm_80 and sm_90.)
/// </summary>
public sealed class PtxCompileTests(PtxCompilerFixture fixture) : IClassFixture<PtxCompilerFixture>
{
    private static readonly Assembly[] Scanned = [typeof(KernelEntryAttribute).Assembly, typeof(PtxSampleKernels).Assembly];

    private static IEnumerable<PtxKernelEntry> AllEntries() => Scanned.SelectMany(PtxCompiler.FindEntries);

    public static TheoryData<string> KernelNames()
    {
        var data = new TheoryData<string>();
        foreach (var entry in AllEntries())
            data.Add(entry.Name);
        return data;
    }

    [Fact]
    public void KernelEntryAttributesAreWellFormed()
    {
        // FindEntries throws on instance methods, wrong type-argument counts, violated constraints, duplicate names.
        var kernels = PtxCompiler.FindEntries(typeof(KernelEntryAttribute).Assembly);
        Assert.All(kernels, k => Assert.True(k.Method.IsStatic && !k.Method.ContainsGenericParameters, k.Name));
    }

    [Fact]
    public void FindsTheSampleKernels()
    {
        var names = PtxCompiler.FindEntries(typeof(PtxSampleKernels).Assembly).Select(e => e.Name).ToArray();
        Assert.Equal(
            ["PtxSampleKernels.Map[ReluOp]", "PtxSampleKernels.Map[SiluOp]", "PtxSampleKernels.ReverseInGroup",
             "PtxSampleKernels.RowSum", "PtxSampleKernels.ScaleExp", "PtxSampleKernels.WarpSoftmaxDenominator"],
            names);
        Assert.True(PtxCompiler.FindEntries(typeof(PtxSampleKernels).Assembly).Single(e => e.Name.EndsWith("RowSum", StringComparison.Ordinal)).ExplicitlyGrouped);
    }

    [Fact]
    public void AllKernelsCompile()
    {
        var entries = AllEntries().ToList();
        Assert.NotEmpty(entries);
        var (compiled, failed) = fixture.Compiler.CompileAll(entries);
        Assert.True(failed.Count == 0,
            string.Join("\n", failed.Select(f => $"{f.Entry.Name}: {f.Error}")));
        Assert.Equal(entries.Count, compiled.Count);
        Assert.All(compiled, AssertTargetsSm80);
    }

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void KernelCompilesToPtx(string name)
    {
        var entry = AllEntries().Single(e => e.Name == name);
        AssertTargetsSm80(fixture.Compiler.Compile(entry));
    }

    [Fact]
    public void UncompilableKernelThrows()
    {
        var broken = new PtxKernelEntry(typeof(PtxBrokenKernels).GetMethod(nameof(PtxBrokenKernels.CallsGarbageCollector))!, false);
        var good = new PtxKernelEntry(typeof(PtxSampleKernels).GetMethod(nameof(PtxSampleKernels.ScaleExp))!, false);
        // The kernel after the failure must still compile (a failed compile poisons an ILGPU context).
        var (compiled, failed) = fixture.Compiler.CompileAll([broken, good]);
        var failure = Assert.Single(failed);
        Assert.Equal("PtxBrokenKernels.CallsGarbageCollector", failure.Entry.Name);
        Assert.IsNotType<NullReferenceException>(failure.Error);
        Assert.Equal("PtxSampleKernels.ScaleExp", Assert.Single(compiled).Entry.Name);
    }

    private static void AssertTargetsSm80(PtxKernel kernel)
    {
        string[] lines = kernel.Ptx.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Contains(".version 7.8", lines);
        Assert.Contains(".target sm_80", lines);
        Assert.Contains(".address_size 64", lines);
        Assert.Contains(".entry", kernel.Ptx, StringComparison.Ordinal);
    }
}
