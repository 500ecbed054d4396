using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LongLM.Kernels;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.SafeTensors;

/// <summary>Well-formed files: round trips through <see cref="SafeTensorsWriter"/>, metadata, zero-copy access, views.</summary>
public sealed class SafeTensorsFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly float[] Sample =
    [
        0f, -0f, 1f, -1f, 0.5f, 3.140625f, 3.14159265f, -2.718281828f, 1e-3f, 65504f, 1.00390625f, 1.01171875f,
        1.0078125f, 123.456f, -7.25e-5f, 42f,
    ];

    /// <summary>bf16 by round-to-nearest-even on the float32 bit pattern, written here independently of the code under test.</summary>
    private static ushort ReferenceBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint upper = bits >> 16;
        uint lower = bits & 0xFFFF;
        if (lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1)) upper++;
        return (ushort)upper;
    }

    private static float WidenBFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    private string WriteOne(string fileName, DType dtype, long[] shape, float[] values)
    {
        string path = _dir.File(fileName);
        new SafeTensorsWriter().Add("t", dtype, shape, values).Write(path);
        return path;
    }

    // ---- round trips ------------------------------------------------------------------------------------------

    [Fact]
    public void RoundTrip_F32_ReadsBackExactValues()
    {
        string path = WriteOne("f32.safetensors", DType.F32, [4, 4], Sample);
        using var file = SafeTensorsFile.Open(path);
        var info = file.Info("t");
        Assert.Equal(DType.F32, info.DType);
        Assert.Equal([4L, 4L], info.Shape);
        Assert.Equal(64, info.End - info.Begin);
        var view = file.View("t");
        Assert.Equal((4, 4), (view.Rows, view.Cols));
        Assert.Equal(DType.F32, view.DType);
        float[] back = view.ToFloat32();
        for (int i = 0; i < Sample.Length; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits(Sample[i]), BitConverter.SingleToUInt32Bits(back[i]));
    }

    [Fact]
    public void RoundTrip_F16_ReadsBackHalfRoundedValues()
    {
        string path = WriteOne("f16.safetensors", DType.F16, [2, 8], Sample);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(DType.F16, file.Info("t").DType);
        Assert.Equal(32, file.Bytes("t").Length);
        float[] back = file.View("t").ToFloat32();
        for (int i = 0; i < Sample.Length; i++)
            Assert.Equal((float)(Half)Sample[i], back[i]);
        // The stored bits are exactly the IEEE binary16 encodings.
        var stored = MemoryMarshal.Cast<byte, ushort>(file.Bytes("t"));
        for (int i = 0; i < Sample.Length; i++)
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)Sample[i]), stored[i]);
    }

    [Fact]
    public void RoundTrip_BF16_ReadsBackNearestEvenValues()
    {
        string path = WriteOne("bf16.safetensors", DType.BF16, [16], Sample);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(DType.BF16, file.Info("t").DType);
        float[] back = file.View("t").ToFloat32();
        var stored = MemoryMarshal.Cast<byte, ushort>(file.Bytes("t"));
        for (int i = 0; i < Sample.Length; i++)
        {
            ushort expected = ReferenceBFloat16(Sample[i]);
            Assert.Equal(expected, stored[i]);
            Assert.Equal(WidenBFloat16(expected), back[i]);
        }
    }

    [Fact]
    public void RoundTrip_BF16_KnownValuesRoundToNearestEven()
    {
        float justAboveHalfway = BitConverter.UInt32BitsToSingle(0x3F808001); // 1.00390625 + one float32 ulp
        float[] values = [1.0f, 3.140625f, 1.00390625f, 1.01171875f, 1.0078125f, -2.0f, 0.0f, justAboveHalfway];
        string path = WriteOne("bf16-known.safetensors", DType.BF16, [values.Length], values);
        using var file = SafeTensorsFile.Open(path);
        var stored = MemoryMarshal.Cast<byte, ushort>(file.Bytes("t"));
        float[] back = file.View("t").ToFloat32();

        Assert.Equal(0x3F80, stored[0]); // 1.0
        Assert.Equal(1.0f, back[0]);
        Assert.Equal(3.140625f, back[1]); // exactly representable in bf16 (0x4049)
        Assert.Equal(0x4049, stored[1]);
        Assert.Equal(1.0f, back[2]); // halfway between 1.0 and 1.0078125: ties to even (1.0)
        Assert.Equal(0x3F80, stored[2]);
        Assert.Equal(1.015625f, back[3]); // halfway between 1.0078125 (odd) and 1.015625 (even): rounds up
        Assert.Equal(0x3F82, stored[3]);
        Assert.Equal(1.0078125f, back[4]); // exact
        Assert.Equal(-2.0f, back[5]);
        Assert.Equal(0xC000, stored[5]);
        Assert.Equal(0f, back[6]);
        Assert.Equal(1.0078125f, back[7]); // just above the halfway point: rounds up
        Assert.Equal(0x3F81, stored[7]);
    }

    [Fact]
    public void RoundTrip_SeveralTensors_EachReadsItsOwnValues()
    {
        string path = _dir.File("many.safetensors");
        new SafeTensorsWriter()
            .Add("a", DType.F32, [3], [1, 2, 3])
            .Add("b", DType.BF16, [2, 2], [4, 5, 6, 7])
            .Add("c", DType.F16, [1], [8])
            .Write(path);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["a", "b", "c"], file.Tensors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([1f, 2f, 3f], file.View("a").ToFloat32());
        Assert.Equal([4f, 5f, 6f, 7f], file.View("b").ToFloat32());
        Assert.Equal([8f], file.View("c").ToFloat32());
        Assert.Equal(path, file.FilePath);
        Assert.Empty(file.Metadata);
    }

    // ---- metadata ---------------------------------------------------------------------------------------------

    [Fact]
    public void Open_FileWithMetadata_ExposesMetadata()
    {
        string path = _dir.File("meta.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "unit test" };
        new SafeTensorsWriter().Add("w", DType.F32, [2], [1, 2]).Write(path, metadata);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("unit test", file.Metadata["producer"]);
        Assert.Equal(2, file.Metadata.Count);
        Assert.False(file.Tensors.ContainsKey("__metadata__"));
        Assert.Equal([1f, 2f], file.View("w").ToFloat32());
    }

    [Fact]
    public void Open_HandWrittenMetadataWithNonStringValue_KeepsRawText()
    {
        const string header = """{"__metadata__":{"format":"pt","n":3},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""";
        string path = _dir.Write("meta-raw.safetensors", RawSafeTensors.Build(header, RawSafeTensors.F32(5)));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("3", file.Metadata["n"]);
        Assert.Single(file.Tensors);
    }

    // ---- zero-copy --------------------------------------------------------------------------------------------

    [Fact]
    public unsafe void Bytes_EqualFileBytesAtExpectedOffset_WithoutCopying()
    {
        string path = _dir.File("zero-copy.safetensors");
        new SafeTensorsWriter()
            .Add("first", DType.F32, [2, 3], [1, 2, 3, 4, 5, 6])
            .Add("second", DType.BF16, [5], [-1, -2, -3, -4, -5])
            .Add("third", DType.F16, [3], [0.25f, 0.5f, 0.75f])
            .Write(path);
        byte[] raw = File.ReadAllBytes(path);
        long dataStart = 8 + RawSafeTensors.HeaderLength(raw);

        using var file = SafeTensorsFile.Open(path);
        foreach (string name in new[] { "first", "second", "third" })
        {
            var info = file.Info(name);
            var bytes = file.Bytes(name);
            Assert.Equal(info.End - info.Begin, bytes.Length);
            Assert.True(bytes.SequenceEqual(raw.AsSpan((int)(dataStart + info.Begin), (int)(info.End - info.Begin))), name);

            // Same address every time, and the view points at it too: the span is the mapping, not a copy.
            void* address = Unsafe.AsPointer(ref MemoryMarshal.GetReference(bytes));
            Assert.True(address == Unsafe.AsPointer(ref MemoryMarshal.GetReference(file.Bytes(name))));
            Assert.Equal((nint)address, file.View(name).Pointer);
        }

        // Tensors are laid out back to back, in the order written.
        Assert.Equal(0, file.Info("first").Begin);
        Assert.Equal(file.Info("first").End, file.Info("second").Begin);
        Assert.Equal(file.Info("second").End, file.Info("third").Begin);
        Assert.Equal(raw.Length - dataStart, file.Info("third").End);
    }

    [Fact]
    public void Bytes_HandCraftedFile_MatchesDataSection()
    {
        byte[] data = [.. RawSafeTensors.F32(9, 8), .. RawSafeTensors.F32(7, 6, 5)];
        const string header = """{"x":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        string path = _dir.Write("crafted.safetensors", RawSafeTensors.Build(header, data));
        using var file = SafeTensorsFile.Open(path);
        Assert.True(file.Bytes("y").SequenceEqual(data.AsSpan(0, 8)));
        Assert.True(file.Bytes("x").SequenceEqual(data.AsSpan(8, 12)));
        Assert.Equal([7f, 6f, 5f], file.View("x").ToFloat32());
        Assert.Equal(9f, BinaryPrimitives.ReadSingleLittleEndian(file.Bytes("y")));
    }

    // ---- header padding, views --------------------------------------------------------------------------------

    [Fact]
    public void Open_HeaderWithTrailingSpaces_IsAccepted()
    {
        const string header = """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""" + "       ";
        string path = _dir.Write("padded.safetensors", RawSafeTensors.Build(header, RawSafeTensors.F32(1.5f, -2.5f)));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal([1.5f, -2.5f], file.View("w").ToFloat32());
    }

    [Fact]
    public void Open_WriterOutput_HasHeaderPaddedToEightBytes()
    {
        string path = WriteOne("aligned.safetensors", DType.F32, [3], [1, 2, 3]);
        byte[] raw = File.ReadAllBytes(path);
        long headerLength = RawSafeTensors.HeaderLength(raw);
        Assert.Equal(0, headerLength % 8);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal([1f, 2f, 3f], file.View("t").ToFloat32());
    }

    [Fact]
    public void View_Rank3Tensor_FoldsToRowsAndCols()
    {
        float[] values = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        string path = WriteOne("rank3.safetensors", DType.F32, [2, 3, 4], values);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal([2L, 3L, 4L], file.Info("t").Shape);
        Assert.Equal(24, file.Info("t").ElementCount);
        var view = file.View("t");
        Assert.Equal(6, view.Rows);
        Assert.Equal(4, view.Cols);
        Assert.Equal(values, view.ToFloat32());
        // Row 4 of the folded view is [1, 1, :] of the original.
        Assert.Equal([16f, 17f, 18f, 19f], MemoryMarshal.Cast<byte, float>(view.RowBytes(4)).ToArray());
    }

    [Fact]
    public void View_Rank1Tensor_IsOneRow()
    {
        string path = WriteOne("rank1.safetensors", DType.F16, [5], [1, 2, 3, 4, 5]);
        using var file = SafeTensorsFile.Open(path);
        var view = file.View("t");
        Assert.Equal((1, 5), (view.Rows, view.Cols));
        Assert.Equal([1f, 2f, 3f, 4f, 5f], view.ToFloat32());
    }

    [Fact]
    public void Open_EmptyAndScalarTensors_AreAcceptedButHaveNoView()
    {
        const string header = """{"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"scalar":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}""";
        string path = _dir.Write("edge.safetensors", RawSafeTensors.Build(header, RawSafeTensors.F32(3)));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(0, file.Bytes("empty").Length);
        Assert.Equal(4, file.Bytes("scalar").Length);
        var empty = Assert.Throws<SafeTensorsException>(() => file.View("empty"));
        Assert.Contains("'empty'", empty.Message);
        Assert.Contains("edge.safetensors", empty.Message);
        var scalar = Assert.Throws<SafeTensorsException>(() => file.View("scalar"));
        Assert.Contains("'scalar' is a scalar", scalar.Message);
    }

    [Fact]
    public void Open_EmptyHeaderObject_HasNoTensors()
    {
        string path = _dir.Write("nothing.safetensors", RawSafeTensors.Build("{}", []));
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Info_MissingTensor_ThrowsNamingTensorAndFile()
    {
        string path = WriteOne("present.safetensors", DType.F32, [1], [1]);
        using var file = SafeTensorsFile.Open(path);
        var ex = Assert.Throws<SafeTensorsException>(() => file.Info("model.absent.weight"));
        Assert.Contains("'model.absent.weight'", ex.Message);
        Assert.Contains("not found", ex.Message);
        Assert.Contains("present.safetensors", ex.Message);
        Assert.Throws<SafeTensorsException>(() => file.View("model.absent.weight"));
        Assert.Throws<SafeTensorsException>(() => { _ = file.Bytes("model.absent.weight"); });
    }
}
