"""The label vocabularies of the generated data sets; a name's position is its class index."""

BELT_STATES = ("empty_belt", "normal_load", "oversized_lump", "foreign_object", "person_near_belt")
DETECT_CLASSES = ("person", "helmet", "head", "anchor_rod", "wood", "metal", "large_lump")
SEGMENT_CLASSES = ("background", "belt", "coal")
FOREIGN_KINDS = ("anchor_rod", "wood", "metal")

BACKGROUND, BELT, COAL = range(len(SEGMENT_CLASSES))
