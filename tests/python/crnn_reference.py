"""CRNN (Shi, Bai and Yao, 2015) as the widely used PyTorch port (meijieru/crnn.pytorch) lays it
out, written here from the paper's Table 1 and that port's module names, so that zoo's crnn can be
checked against it (logits and parameter names) and the port's released weights import.

  python3 crnn_reference.py --count [--channels 1 --classes 37 --hidden 256]
"""
import argparse

import torch
import torch.nn as nn


class BidirectionalLSTM(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.rnn = nn.LSTM(n_in, hidden, bidirectional=True)
        self.embedding = nn.Linear(hidden * 2, n_out)

    def forward(self, x):  # (T, B, n_in)
        recurrent, _ = self.rnn(x)
        T, B, h = recurrent.size()
        return self.embedding(recurrent.view(T * B, h)).view(T, B, -1)


class CRNN(nn.Module):
    def __init__(self, img_h=32, channels=1, classes=37, hidden=256):
        super().__init__()
        assert img_h % 16 == 0
        kernels = [3, 3, 3, 3, 3, 3, 2]
        pads = [1, 1, 1, 1, 1, 1, 0]
        widths = [64, 128, 256, 256, 512, 512, 512]
        cnn = nn.Sequential()

        def conv_relu(i, batch_norm=False):
            n_in = channels if i == 0 else widths[i - 1]
            cnn.add_module(f"conv{i}", nn.Conv2d(n_in, widths[i], kernels[i], 1, pads[i]))
            if batch_norm:
                cnn.add_module(f"batchnorm{i}", nn.BatchNorm2d(widths[i]))
            cnn.add_module(f"relu{i}", nn.ReLU(True))

        conv_relu(0)
        cnn.add_module("pooling0", nn.MaxPool2d(2, 2))  # 64 x H/2 x W/2
        conv_relu(1)
        cnn.add_module("pooling1", nn.MaxPool2d(2, 2))  # 128 x H/4 x W/4
        conv_relu(2, True)
        conv_relu(3)
        cnn.add_module("pooling2", nn.MaxPool2d((2, 2), (2, 1), (0, 1)))  # 256 x H/8 x (W/4 + 1)
        conv_relu(4, True)
        conv_relu(5)
        cnn.add_module("pooling3", nn.MaxPool2d((2, 2), (2, 1), (0, 1)))  # 512 x H/16 x (W/4 + 2)
        conv_relu(6, True)  # 512 x 1 x (W/4 + 1)
        self.cnn = cnn
        self.rnn = nn.Sequential(BidirectionalLSTM(512, hidden, hidden), BidirectionalLSTM(hidden, hidden, classes))

    def forward(self, x):  # (B, C, 32, W)
        conv = self.cnn(x)
        b, c, h, w = conv.size()
        assert h == 1, "the height must reach 1"
        return self.rnn(conv.squeeze(2).permute(2, 0, 1))  # (T, B, classes)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--count", action="store_true")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--classes", type=int, default=37)
    p.add_argument("--hidden", type=int, default=256)
    a = p.parse_args()
    model = CRNN(32, a.channels, a.classes, a.hidden)
    if a.count:
        print(sum(t.numel() for t in model.parameters()))
        for name, t in model.state_dict().items():
            print(name, tuple(t.shape))
