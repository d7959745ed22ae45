"""Synthetic Chinese names, phone numbers and addresses for the demo. Nothing here is
a real person: names are random combinations, phones use the 199-0000 block."""

from __future__ import annotations

import numpy as np

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛阎段雷侯龙"
    "史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂"
    "柴焦向柳邢岳齐沿梅莫庄辛管祝左涂谷祁时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳"
    "裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵欧阳解强丛华车冉房边"
)
GIVEN = list(
    "子梓浩宇轩涵欣怡佳琪雨泽晨思博文一诺俊杰梦瑶可馨嘉豪皓天宸睿雅静若曦家乐明辉志强"
    "秀英桂兰海燕丽娟建华国庆春梅晓东玉洁金凤小龙云飞德华永红学军"
)
YI_SURNAMES = ["阿", "吉克", "沙马", "马海", "阿苏", "海来", "俄木"]


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` synthetic names: a common surname (a few Yi surnames, as in Renhe's Yi
    townships) and one or two given-name characters."""
    surnames = np.array(rng.choice(SURNAMES, n), dtype=object)
    yi = rng.random(n) < 0.06
    surnames[yi] = rng.choice(YI_SURNAMES, int(yi.sum()))
    first = rng.choice(GIVEN, n)
    second = rng.choice(GIVEN, n)
    two = rng.random(n) < 0.7
    return [s + f + (g if t else "") for s, f, g, t in zip(surnames, first, second, two,
                                                            strict=True)]


def phones(rng: np.random.Generator, n: int) -> list[str]:
    return [f"1990000{x:04d}" for x in rng.integers(0, 10000, n)]


def short_village(name: str) -> str:
    """'金江村民委员会' -> '金江村', '大河南路社区居民委员会' -> '大河南路社区'."""
    for suffix, short in (("社区居民委员会", "社区"), ("社区居委会", "社区"),
                          ("村民委员会", "村"), ("村委会", "村")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + short
    return name
