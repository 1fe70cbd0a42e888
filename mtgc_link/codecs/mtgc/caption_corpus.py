"""Training text for the static caption model (see caption.py and docs/mtgc.md).

Short image captions in the style of BLIP / COCO (lowercase, no final period), written for this project and
placed in the public domain. It deliberately does not contain the Kodak captions used to measure the coder:
those are held-out test data. The character statistics of this text are the "table" of the caption coder,
derived deterministically at import time, so changing a single character here changes the bitstream (bump
bitstream.VERSION if you edit it).
"""

CORPUS = """\
a dog running across a grassy field with a ball in its mouth
two cats sleeping on a blue sofa next to a pillow
a man riding a bicycle down a busy city street
a woman holding an umbrella in the rain
a plate of pasta with tomato sauce and basil leaves
a bowl of fruit on a wooden kitchen table
a train pulling into a station on a sunny day
a group of people standing around a campfire at night
a little boy playing with a toy truck on the floor
a brown horse grazing in a fenced pasture
a city skyline at sunset with tall buildings
a snowy mountain peak under a clear blue sky
a wooden bench in a park surrounded by autumn leaves
a bird perched on a branch of a tree
a close up of a sunflower in a garden
a red car parked on the side of the road
a kitchen with white cabinets and a stainless steel refrigerator
a living room with a fireplace and two armchairs
a child blowing out candles on a birthday cake
a fishing boat docked at a harbor with seagulls flying overhead
a cow standing in a green meadow near a barn
an old man reading a newspaper on a park bench
a young woman taking a photo with her phone
a pizza with cheese and pepperoni on a cutting board
a cup of coffee next to a laptop on a desk
a bus driving through an intersection in the city
a herd of elephants walking through a dusty plain
a giraffe eating leaves from a tall tree
a zebra standing in tall dry grass
a surfer riding a large wave in the ocean
a skier going down a snowy slope
a man throwing a frisbee on a beach
a tennis player hitting a ball on a clay court
a soccer player kicking a ball on a field
a baseball player swinging a bat at home plate
a teddy bear sitting on a bed with white sheets
a bathroom with a white sink and a large mirror
a bedroom with a wooden bed and a lamp on a nightstand
a street sign on a pole in front of a brick building
a stop sign at the corner of a quiet street
a fire hydrant on a sidewalk next to a parked car
an airplane flying in a cloudy sky
a jet parked on the runway at an airport
a motorcycle parked in front of a shop
a group of people riding horses on a trail
a flock of sheep on a hillside with stone walls
a black and white photo of an old street
a vase of yellow flowers on a windowsill
a clock tower in the middle of a town square
a boat sailing on a lake surrounded by mountains
a bridge over a river in a small village
a waterfall flowing into a clear pool in a forest
a path through a dense green forest
a desert landscape with sand dunes and a blue sky
a beach with palm trees and turquoise water
a lighthouse on a cliff overlooking the sea
a castle on top of a hill with a cloudy sky
a church with a tall steeple and a clock
a market with fresh vegetables and fruit on display
a woman cooking in a kitchen with pots on the stove
a man sitting at a table eating a sandwich
a plate with a burger and french fries
a bowl of soup with bread on the side
a slice of chocolate cake on a white plate
a glass of orange juice on a breakfast table
a pair of shoes on a wooden floor
a cat looking out of a window
a dog lying on a rug in front of a door
a puppy chewing on a stick in the yard
a parrot with green and yellow feathers on a perch
a duck swimming in a pond with lily pads
a swan gliding on a calm lake
a butterfly resting on a purple flower
a bee collecting pollen from a flower
a close up of a red apple on a table
a basket of bread rolls on a counter
a street with old buildings and a narrow lane
a row of bicycles parked along a fence
a man in a suit talking on a cell phone
a woman in a blue dress walking down the street
a girl with long hair smiling at the camera
a boy wearing a baseball cap and a striped shirt
a baby sitting in a high chair
a family having a picnic on the grass
two men playing chess at a table in a park
a woman sitting on a rock by a river
a couple sitting on a bench watching the sunset
a crowd of people at an outdoor concert
a person hiking up a rocky mountain trail
a tent set up in a forest clearing
a canoe on the shore of a quiet lake
a wooden dock extending into a lake at dawn
a small house with a white fence and a garden
a farmhouse with a red roof in the countryside
a tractor working in a field of wheat
a field of tulips in many colors
a row of trees along a country road
a foggy morning over a green valley
a rainbow over a field after the rain
a full moon over a dark city
a snow covered street with parked cars
a child building a snowman in a backyard
a hockey player skating on the ice
a basketball player jumping to make a shot
a runner crossing the finish line of a race
a cyclist racing on a mountain road
a group of kids playing in a swimming pool
a woman doing yoga on a mat in a studio
a man lifting weights in a gym
a chef preparing food in a restaurant kitchen
a waiter carrying a tray of drinks
a table set with plates glasses and a candle
a bookshelf filled with books in a library
a desk with a computer monitor and a keyboard
a laptop and a notebook on a wooden desk
a television on a stand in a living room
a remote control on a couch
a teapot and two cups on a tray
a stack of pancakes with syrup and berries
a hot dog with mustard on a paper plate
a salad with lettuce tomatoes and cucumbers
a plate of sushi with chopsticks
a donut with pink frosting and sprinkles
a bunch of bananas hanging from a hook
a pile of oranges at a fruit stand
a close up of a hand holding a pen
a painting of a landscape hanging on a wall
a statue of a man on a horse in a park
a fountain in the middle of a plaza
a street performer playing a guitar
a musician playing a piano on a stage
a dancer in a white dress on a stage
a woman wearing sunglasses and a straw hat
a man with a beard wearing a green jacket
an old woman knitting in a rocking chair
a police officer standing next to a car
a firefighter spraying water on a burning house
a truck carrying logs on a highway
a taxi waiting at a traffic light
a subway train in an underground station
a ship sailing on the open sea
a kayak on a rocky river
a sailboat with a white sail on the lake
a harbor full of boats at sunset
a pier stretching out into the ocean
a seagull standing on a wooden post
a crab on the sand near the water
a turtle swimming in clear blue water
a school of fish near a coral reef
a bear walking along a river bank
a deer standing in a snowy forest
a fox sitting in the grass
a rabbit eating a carrot in a garden
a squirrel holding a nut on a branch
an owl sitting in a hole in a tree
a lion resting in the shade of a tree
a tiger walking through the jungle
a monkey hanging from a tree branch
a goat standing on a rocky ledge
a pig rolling in the mud on a farm
a chicken walking in a farm yard
a horse drawn carriage on a cobblestone street
a windmill in a field under a blue sky
a stone wall covered in green ivy
a gate leading into a garden with roses
a window with flower boxes full of red flowers
a balcony with plants and a small table
a door painted bright blue on a white wall
a staircase in an old building
a hallway with wooden floors and paintings
a kitchen counter with a bowl of lemons
a bathtub next to a window with a view
a garden with a stone path and green bushes
a pond with a small wooden bridge
a greenhouse full of plants and flowers
a vineyard with rows of grapes on a hill
an orchard with apple trees in bloom
a barn with a tin roof next to a silo
a fence made of wooden posts in a field
a mailbox in front of a house
a playground with a slide and swings
a carousel at an amusement park
a ferris wheel lit up at night
a tent at a busy street fair
a hot air balloon floating over the hills
a kite flying high in the sky
a woman flying a kite on the beach
a man walking his dog on a leash
a dog catching a frisbee in the air
a cat sitting on top of a car
two dogs playing in the snow
a horse jumping over a fence
a person skateboarding down a ramp
a man surfing on a blue wave
a woman swimming in a lake
children splashing in a fountain
a boy and a girl holding hands
a bride and groom posing for a picture
a group of friends laughing at a table
a student writing in a notebook
a teacher standing in front of a blackboard
a doctor wearing a white coat
a farmer holding a basket of vegetables
a fisherman casting a line from a boat
a painter working on a canvas outdoors
a portrait of a smiling woman with curly hair
a close up of a man with blue eyes
an elderly couple walking on a beach
a mother holding her baby
a young man playing a guitar on a sofa
a woman reading a book under a tree
a man sleeping in a hammock
"""
